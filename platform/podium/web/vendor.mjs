// Copies the browser builds of the npm dependencies into static/vendor, where
// Django's staticfiles serves them. Run by `make assets`; the output is not committed.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "static", "vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "chart.js/dist/chart.umd.js": "chart.umd.js",
};
mkdirSync(out, { recursive: true });
for (const [src, dest] of Object.entries(files)) {
  cpSync(join(here, "node_modules", src), join(out, dest));
}
console.log(`vendor: ${Object.keys(files).length} files -> ${out}`);

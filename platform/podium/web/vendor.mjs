// Copies the browser builds of the npm dependencies into static/vendor, where
// Django's staticfiles serves them. Run by `make assets`; the output is not committed.
// axe-core is a development dependency: the browser tests inject it into each page to
// scan it for accessibility violations; an install without dev dependencies skips it.
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "static", "vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "chart.js/dist/chart.umd.js": "chart.umd.js",
};
const devFiles = {
  "axe-core/axe.min.js": "axe.min.js",
};
mkdirSync(out, { recursive: true });
let copied = 0;
for (const [src, dest] of Object.entries(files)) {
  cpSync(join(here, "node_modules", src), join(out, dest));
  copied += 1;
}
for (const [src, dest] of Object.entries(devFiles)) {
  if (!existsSync(join(here, "node_modules", src))) continue;
  cpSync(join(here, "node_modules", src), join(out, dest));
  copied += 1;
}
console.log(`vendor: ${copied} files -> ${out}`);

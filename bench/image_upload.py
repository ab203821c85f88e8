"""Image upload throughput: validating and decoding a zip of PNG images into a dataset bundle
(`datasets.images.bundle_from_image_upload`) against decoding the same files one by one with
Pillow in a plain loop, in one run, and where the upload's time goes.

The zip holds the first `--n` images of shapes-32 as PNG files (`images/<id>.png`) with a
train.csv of `id,label` (test fraction 0.25 split off by the upload). The baseline opens
the zip, and for each member reads its bytes and decodes it (`np.asarray(Image.open(...))`):
the least any upload must do. The upload also checks names and caps while inflating,
matches ids to rows, checks sizes and channel counts, stacks the array, writes the .npy
files and the per-split archives, the CSVs, and hashes every file for the manifest.

    python bench/image_upload.py [--n 30000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from common.problems import ProblemList  # noqa: E402
from datasets import images as image_upload  # noqa: E402
from datasets.shapes import CLASSES, make_shapes  # noqa: E402
from datasets.zips import read_zip  # noqa: E402


def make_zip(n: int) -> tuple[bytes, bytes]:
    pixels, labels = make_shapes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(pixels[i].transpose(1, 2, 0))).save(png, format="PNG")
            archive.writestr(f"images/{i}.png", png.getvalue())
    csv = "id,label\n" + "".join(f"{i},{CLASSES[labels[i]]}\n" for i in range(n))
    return out.getvalue(), csv.encode()


def plain_decode(data: bytes) -> float:
    t0 = time.perf_counter()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            np.asarray(Image.open(io.BytesIO(archive.read(name))))
    return time.perf_counter() - t0


def upload(data: bytes, csv: bytes) -> float:
    t0 = time.perf_counter()
    image_upload.bundle_from_image_upload(
        images=data, train=csv, slug="shapes-upload", title="Shapes", test_fraction=0.25
    )
    return time.perf_counter() - t0


def stages(data: bytes, csv: bytes) -> dict[str, float]:
    """The upload's parts, timed one by one on the same input."""
    out = {}
    t0 = time.perf_counter()
    members = read_zip(data, label="images.zip", problems=ProblemList())
    out["read the zip (names, caps while inflating)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = [image_upload.decode_image(m.data) for m in members]
    out["decode every image (Pillow, checks)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    np.stack(decoded)
    out["stack into one array"] = time.perf_counter() - t0
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    data, csv = make_zip(args.n)
    print(
        f"{args.n:,} PNG images, a zip of {len(data):,} bytes, made in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    times = {"plain": [], "upload": []}
    for r in range(args.repeats):
        times["plain"].append(plain_decode(data))
        times["upload"].append(upload(data, csv))
        print(
            f"repeat {r + 1}: plain {times['plain'][-1]:.2f} s, upload {times['upload'][-1]:.2f} s",
            flush=True,
        )
    parts = stages(data, csv)
    m_plain, m_upload = statistics.median(times["plain"]), statistics.median(times["upload"])
    print()
    print(f"{'':<44}{'images/s':>10}{'seconds':>10}")
    print(f"{'plain Pillow loop (read + decode)':<44}{args.n / m_plain:>10.0f}{m_plain:>10.2f}")
    print(f"{'upload (validate, decode, store as bundle)':<44}{args.n / m_upload:>10.0f}{m_upload:>10.2f}")
    print("where the upload's time goes (one run):")
    for name, seconds in parts.items():
        print(f"  {name:<50}{seconds:>8.2f} s ({seconds / m_upload * 100:.0f}%)")
    rest = m_upload - sum(parts.values())
    print(
        f"  {'the rest: ids, split, .npy, archives, CSVs, sha256':<50}{rest:>8.2f} s ({rest / m_upload * 100:.0f}%)"
    )
    ratio = m_upload / m_plain
    print(
        f"bench: image_upload metric={args.n / m_upload:.1f} baseline={args.n / m_plain:.1f} ratio={ratio:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

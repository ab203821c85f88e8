"""Building image uploads for tests: real PNG/JPEG files made with Pillow, zipped."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an H x W (grey) or H x W x C uint8 array."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=95)
    return out.getvalue()


def pixels(seed: int, size=(8, 8), channels: int = 3) -> np.ndarray:
    shape = (*size, channels) if channels > 1 else size
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def labelled_set(n: int = 12, *, classes=("cat", "dog"), start: int = 0, folder: str = "imgs", seed: int = 0):
    """(members, csv bytes): n distinct random 8x8 RGB images named by id, labels cycling."""
    members, rows = {}, ["id,label"]
    for k in range(start, start + n):
        members[f"{folder}/{k}.png"] = png(pixels(seed * 100_000 + k))
        rows.append(f"{k},{classes[k % len(classes)]}")
    return members, ("\n".join(rows) + "\n").encode()

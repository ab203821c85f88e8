"""The built-in image benchmark `shapes-32`: 30,000 colour 32x32 images of ten shapes, made from seeds.

No image download exists here, so the set is drawn: each image is one shape (circle, square,
triangle, plus, ring, frame, ellipse, crescent, two bars, T) at a random position, scale,
rotation and colour, over a striped background texture of random frequency, angle and
colours, with Gaussian noise. Shapes are signed distance functions evaluated on the pixel
grid of a whole class of images at once (numpy, no loop over images), anti-aliased over one
pixel. The variation is what makes raw pixels a poor representation (a linear model or a
forest sees a shape at one place and scale as unrelated to the same shape elsewhere) and
what a small CNN with augmentation learns to ignore.
"""

from __future__ import annotations

import numpy as np

SIZE = 32
CLASSES = ["circle", "square", "triangle", "plus", "ring", "frame", "ellipse", "crescent", "bars", "tee"]
N_IMAGES = 30_000
# The labelled training split: few enough that a CNN which can fit it also overfits it, the
# regime where augmentation earns its keep (with 22,500 training images the example CNN did
# not overfit in 15 epochs, and augmentation only slowed its fitting); the other 25,000 are
# the hidden test set, which also narrows the accuracy intervals.
TRAIN_IMAGES = 5_000
SEED = 32


def _box(u, v, half_u, half_v):
    return np.maximum(np.abs(u) - half_u, np.abs(v) - half_v)


def _disc(u, v, r):
    return np.sqrt(u * u + v * v) - r


def _triangle(u, v):
    # Three half-planes whose normals are 120 degrees apart: an equilateral triangle.
    c, s = np.float32(np.sqrt(3) / 2), np.float32(0.5)
    return np.maximum(np.maximum(-v, c * u + s * v), -c * u + s * v) - np.float32(0.5)


SHAPES = {
    "circle": lambda u, v: _disc(u, v, 0.9),
    "square": lambda u, v: _box(u, v, 0.8, 0.8),
    "triangle": _triangle,
    "plus": lambda u, v: np.minimum(_box(u, v, 0.95, 0.28), _box(u, v, 0.28, 0.95)),
    "ring": lambda u, v: np.abs(np.sqrt(u * u + v * v) - 0.7) - 0.22,
    "frame": lambda u, v: np.maximum(_box(u, v, 0.85, 0.85), -_box(u, v, 0.5, 0.5)),
    "ellipse": lambda u, v: (np.sqrt(u * u + (v / 0.45) ** 2) - 1.0) * 0.45,
    "crescent": lambda u, v: np.maximum(_disc(u, v, 0.9), -_disc(u - 0.5, v, 0.7)),
    "bars": lambda u, v: np.minimum(_box(u, v - 0.45, 0.9, 0.2), _box(u, v + 0.45, 0.9, 0.2)),
    "tee": lambda u, v: np.minimum(_box(u, v + 0.65, 0.9, 0.22), _box(u, v + 0.1, 0.22, 0.75)),
}


def _uniform(rng: np.random.Generator, lo: float, hi: float, shape) -> np.ndarray:
    # float32 throughout: the arrays are (n, 3, 32, 32), and float64 doubles the time.
    return rng.uniform(lo, hi, shape).astype(np.float32)


def _backgrounds(rng: np.random.Generator, n: int, py: np.ndarray, px: np.ndarray) -> np.ndarray:
    """n striped textures (n, 3, H, W) in [0, 1]: two colours, random frequency, angle and phase,
    a second weaker stripe pattern across the first."""
    c1, c2 = _uniform(rng, 0, 1, (n, 3, 1, 1)), _uniform(rng, 0, 1, (n, 3, 1, 1))
    t = np.zeros((n, 1, SIZE, SIZE), dtype=np.float32)
    for weight in (1.0, 0.5):
        freq = _uniform(rng, 1.0, 6.0, (n, 1, 1, 1)) * np.float32(2 * np.pi / SIZE)
        angle = _uniform(rng, 0, np.pi, (n, 1, 1, 1))
        phase = _uniform(rng, 0, 2 * np.pi, (n, 1, 1, 1))
        t += np.float32(weight) * np.sin(freq * (px * np.cos(angle) + py * np.sin(angle)) + phase)
    t = np.float32(0.5) + t / np.float32(3.0)
    return c1 + (c2 - c1) * t


def _foregrounds(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A colour per image far enough from its background's mean colour to be seen."""
    n = background.shape[0]
    mean = background.mean(axis=(2, 3))
    fg = _uniform(rng, 0, 1, (n, 3))
    close = np.linalg.norm(fg - mean, axis=1) < 0.5
    fg[close] = 1.0 - fg[close]
    return fg.reshape(n, 3, 1, 1).astype(np.float32)


def draw(label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n images of class `label` as uint8 (n, 3, 32, 32)."""
    py, px = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    py, px = py[None, None], px[None, None]  # (1, 1, H, W)
    cx = _uniform(rng, 9.0, 23.0, (n, 1, 1, 1))
    cy = _uniform(rng, 9.0, 23.0, (n, 1, 1, 1))
    scale = _uniform(rng, 5.0, 10.0, (n, 1, 1, 1))
    theta = np.deg2rad(_uniform(rng, -35.0, 35.0, (n, 1, 1, 1)))
    dx, dy = (px - cx) / scale, (py - cy) / scale
    u = np.cos(theta) * dx + np.sin(theta) * dy
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    distance = SHAPES[CLASSES[label]](u, v) * scale  # in pixels
    alpha = np.clip(np.float32(0.5) - distance, 0.0, 1.0)
    background = _backgrounds(rng, n, py, px)
    image = background * (1 - alpha) + _foregrounds(rng, background) * alpha
    image += rng.standard_normal(image.shape, dtype=np.float32) * _uniform(rng, 0.02, 0.12, (n, 1, 1, 1))
    return np.round(np.clip(image, 0.0, 1.0) * np.float32(255)).astype(np.uint8)


def make_shapes(n: int = N_IMAGES, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3, 32, 32), labels int64 (n,)): n / 10 of each class, shuffled, from `seed`."""
    rng = np.random.default_rng(seed)
    per_class = n // len(CLASSES)
    images = np.concatenate([draw(k, per_class, rng) for k in range(len(CLASSES))])
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    order = rng.permutation(len(labels))
    return images[order], labels[order]

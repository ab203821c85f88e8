"""In-memory training data for the trainer: arrays in, device tensors out.

The trainer never iterates samples in Python: everything here works on whole
arrays once, before training, so that each batch is a single index into a
device tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


class DataError(ValueError):
    """The arrays do not match the manifest (shape, labels, ids)."""


@dataclass
class TrainData:
    """A dataset as the trainer sees it: features shaped by `input_shape`,
    targets as given by the dataset (labels or numbers), and the manifest."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    test_ids: np.ndarray
    manifest: Mapping
    slug: str = ""
    # Hidden test labels, for the local runner only (the worker never has them).
    test_labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def task_type(self) -> str:
        return self.manifest["task_type"]

    @property
    def classes(self) -> list[str] | None:
        classes = self.manifest.get("classes")
        return [str(c) for c in classes] if classes is not None else None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.manifest["input_shape"])

    @property
    def inputs(self) -> Mapping | None:
        """The manifest's description of token or categorical input (None: plain numbers)."""
        return self.manifest.get("inputs")

    @property
    def raw_features(self) -> np.ndarray | None:
        """Which features (axis 1) are ids or codes, to be left unstandardised: every token
        of a text, each categorical column of a table; None when all are numbers."""
        inputs = self.inputs or {}
        if inputs.get("kind") == "tokens":
            return np.ones(self.input_shape[0], dtype=bool)
        if inputs.get("categorical"):
            raw = np.zeros(self.input_shape[0], dtype=bool)
            raw[[int(c["index"]) for c in inputs["categorical"].values()]] = True
            return raw
        return None

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task_type == "classification" else 1

    def __post_init__(self):
        shape = self.input_shape
        for name in ("X_train", "X_test"):
            arr = getattr(self, name)
            if tuple(arr.shape[1:]) != shape:
                raise DataError(
                    f"{name} has rows of shape {tuple(arr.shape[1:])}, manifest input_shape is {shape}"
                )
        if len(self.y_train) != len(self.X_train):
            raise DataError(f"y_train has {len(self.y_train)} rows, X_train has {len(self.X_train)}")
        if len(self.test_ids) != len(self.X_test):
            raise DataError(f"test_ids has {len(self.test_ids)} rows, X_test has {len(self.X_test)}")
        if self.task_type == "classification":
            self.target_indices()  # fail early on labels outside the manifest's classes

    def target_indices(self, y: np.ndarray | None = None) -> np.ndarray:
        """Class labels -> indices into `classes` (int64), or float targets for regression."""
        y = self.y_train if y is None else y
        if self.task_type != "classification":
            return np.asarray(y, dtype=np.float64)
        classes = self.classes
        y = np.asarray(y)
        if np.issubdtype(y.dtype, np.integer):
            # datasets.arrays gives class indices into the manifest's classes.
            bad = (y < 0) | (y >= len(classes))
            if bad.any():
                raise DataError(
                    f"class index {int(y[bad][0])} is outside the manifest's {len(classes)} classes"
                )
            return y.astype(np.int64, copy=False)
        lookup = {c: i for i, c in enumerate(classes)}
        uniq, inverse = np.unique(y.astype(str), return_inverse=True)
        codes = []
        for u in uniq:
            if u not in lookup:
                raise DataError(f"label {str(u)!r} is not one of the manifest's classes {classes}")
            codes.append(lookup[u])
        return np.asarray(codes, dtype=np.int64)[inverse.reshape(-1)]


def holdout_data(data: TrainData, *, fraction: float, seed: int) -> TrainData:
    """A lab run's data in holdout mode: the training rows left after the seeded held-out part
    (`datasets.holdout`) to train on, the held-out rows as the rows to predict, named by their
    row number in train.csv. The test rows are not used."""
    from datasets.holdout import holdout_mask, holdout_row_ids

    try:
        mask = holdout_mask(data.target_indices(), fraction=fraction, seed=seed, task_type=data.task_type)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    return TrainData(
        X_train=data.X_train[~mask],
        y_train=data.y_train[~mask],
        X_test=data.X_train[mask],
        test_ids=holdout_row_ids(mask),
        manifest=data.manifest,
        slug=data.slug,
    )


def load_dataset(slug: str, *, with_test_labels: bool = False) -> TrainData:
    """Build a catalog dataset and load its arrays (deterministic, no network)."""
    from datasets.arrays import load_arrays
    from datasets.catalog import build

    bundle = build(slug)
    X_train, y_train, X_test, test_ids = load_arrays(bundle.files, bundle.manifest)
    labels = None
    if with_test_labels and "test_labels.csv" in bundle.files:
        labels = read_test_labels(bundle.files["test_labels.csv"], bundle.manifest, test_ids)
    return TrainData(
        X_train=np.asarray(X_train),
        y_train=np.asarray(y_train),
        X_test=np.asarray(X_test),
        test_ids=np.asarray(test_ids),
        manifest=bundle.manifest,
        slug=slug,
        test_labels=labels,
    )


def read_test_labels(raw: bytes, manifest: Mapping, test_ids: np.ndarray) -> np.ndarray:
    """The hidden answer key, aligned to `test_ids` (local evaluation only)."""
    import io

    import pandas as pd

    id_col = manifest.get("id_column", "id")
    target = manifest["target"]
    # Labels stay strings ("5" is the class named 5, not index 5); regression targets are numbers.
    dtypes = {id_col: str}
    if manifest["task_type"] == "classification":
        dtypes[target] = str
    frame = pd.read_csv(io.BytesIO(raw), dtype=dtypes, keep_default_na=False)
    frame = frame.set_index(id_col).loc[[str(i) for i in test_ids]]
    return frame[target].to_numpy()


def stratified_split(
    y: np.ndarray, fraction: float, seed: int, *, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of row indices (sorted).

    For classification every class keeps at least one training row and gives
    round(fraction * n_class) rows to validation, so rare classes are not lost.
    """
    n = len(y)
    if fraction <= 0 or n < 2:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n)
        n_val = min(max(1, round(fraction * n)), n - 1)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    val_parts, train_parts = [], []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rows = rows[rng.permutation(len(rows))]
        n_val = min(round(fraction * len(rows)), len(rows) - 1)
        val_parts.append(rows[:n_val])
        train_parts.append(rows[n_val:])
    val = np.sort(np.concatenate(val_parts))
    if len(val) == 0:  # tiny data: still hold out one row so the metric exists
        perm = rng.permutation(n)
        return np.sort(perm[1:]), np.sort(perm[:1])
    return np.sort(np.concatenate(train_parts)), val


@dataclass
class Standardizer:
    """Per-feature (tabular) or per-channel (sequences, images) z-scoring,
    fitted on the training rows only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, raw: np.ndarray | None = None) -> Standardizer:
        """`raw`: features (axis 1) kept as they are (token ids, category codes)."""
        X = np.asarray(X, dtype=np.float64)
        axes = (0,) if X.ndim == 2 else (0,) + tuple(range(2, X.ndim))
        mean = X.mean(axis=axes)
        std = X.std(axis=axes)
        std = np.where(std > 1e-12, std, 1.0)  # constant columns (image borders) stay finite
        if raw is not None:
            mean = np.where(raw, 0.0, mean)
            std = np.where(raw, 1.0, std)
        return cls(mean=mean, std=std)

    def apply(self, X: np.ndarray) -> np.ndarray:
        shape = (1, -1) + (1,) * (np.ndim(X) - 2)
        return (
            (np.asarray(X, dtype=np.float64) - self.mean.reshape(shape)) / self.std.reshape(shape)
        ).astype(np.float32)

    def as_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

"""Which hidden test rows of a dataset are served elsewhere.

A test row whose features appear in a downloadable file can be looked up there: with its
label in a train.csv (its own dataset's or another's), and as a member of another
dataset's test set in that one's test.csv (which tells its label when the two sets hold
different classes). A row is compared by its feature values only (ids, labels and column
names aside), three ways: the cells as written, and the numbers rounded to 6 decimal
places and to 6 significant digits, so a copy written with other precision is found too.
Rows are compared by 64-bit hashes, so a catalog-sized walk takes milliseconds.

An image dataset's rows are its decoded images (`datasets.images`): an image is compared
by its pixels, exactly and quantised to 16 levels a channel, against the images of every
served array; the archives of image files hold the same images as the arrays.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datasets.arrays import read_array
from datasets.bundle import DatasetBundle
from datasets.images import TEST_ARRAY, TRAIN_ARRAY, is_image_manifest

ROUND_DIGITS = 6
# The participant-facing files that hold feature rows; sample_submission.csv holds none.
FEATURE_FILES = ("train.csv", "test.csv")
IMAGE_ROW_FILES = (TRAIN_ARRAY, TEST_ARRAY)
# Keys of CSV rows have 3 columns, keys of images 2: only keys of one kind are compared.
IMAGE_WAYS = 2


def row_keys(data: bytes, features: Sequence[str]) -> np.ndarray:
    """One hash per row of a CSV's feature columns, per way of reading it: shape (rows, 3)
    (the cells as written, 6 decimal places, 6 significant digits). Hashes are Python's,
    so keys are compared within one process only."""
    columns = list(features)
    cells = pd.read_csv(io.BytesIO(data), usecols=columns, dtype=str, keep_default_na=False)[columns]
    try:
        numbers = pd.read_csv(io.BytesIO(data), usecols=columns, dtype=np.float64)[columns].to_numpy()
    except ValueError:  # a cell that is not a number: compared as written only
        numbers = cells.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    # Adding 0.0 turns -0.0 into 0.0, which a rounding to zero may leave behind.
    decimals = np.round(numbers, ROUND_DIGITS) + 0.0
    significant = _round_significant(numbers, ROUND_DIGITS) + 0.0
    written = [hash("\x1f".join(row)) for row in cells.to_numpy().tolist()]
    keys = np.array([written, _hash_rows(decimals), _hash_rows(significant)], dtype=np.int64).T.reshape(-1, 3)
    # A row with a cell that is not a number (a text, a category name) is compared as
    # written only: its rounded forms would hold NaN where the words differ, and match.
    words = ~np.isfinite(numbers).all(axis=1)
    keys[words, 1:] = keys[words, :1]
    return keys


def matrix_keys(x: np.ndarray) -> np.ndarray:
    """`row_keys` of a numeric matrix (rows, features), as a CSV written with 6 significant
    digits would give them: for rows no file serves as such but that stand behind served
    ones (the clean digits a faded test set was drawn from), to show that they are not
    served either."""
    features = [f"c{i}" for i in range(x.shape[1])]
    cells = np.char.mod("%.6g", np.asarray(x, dtype=np.float64)).tolist()
    text = "\n".join([",".join(features), *(",".join(row) for row in cells)]) + "\n"
    return row_keys(text.encode(), features)


def image_keys(pixels: np.ndarray) -> np.ndarray:
    """One hash per image of a uint8 (N, C, H, W) array, two ways: its pixels exactly, and
    quantised to 16 levels (a copy re-saved with small changes is found too). Shape (N, 2)."""
    flat = np.ascontiguousarray(pixels.reshape(pixels.shape[0], -1))
    coarse = np.ascontiguousarray(flat >> 4)
    return np.array([_hash_rows(flat), _hash_rows(coarse)], dtype=np.int64).T.reshape(-1, IMAGE_WAYS)


def served_keys(name: str, data: bytes, manifest) -> np.ndarray | None:
    """The keys of a downloadable file's rows (feature rows or images), or None when it holds none."""
    if is_image_manifest(manifest):
        return image_keys(read_array(data, name, manifest)) if name in IMAGE_ROW_FILES else None
    features = manifest.get("features")
    return row_keys(data, features) if name in FEATURE_FILES and features else None


def hidden_test_keys(files: dict[str, bytes], manifest) -> np.ndarray | None:
    """The keys of a dataset's hidden test rows, from its test.csv or test images."""
    name = TEST_ARRAY if is_image_manifest(manifest) else "test.csv"
    return served_keys(name, files[name], manifest) if name in files else None


def _round_significant(x: np.ndarray, digits: int) -> np.ndarray:
    magnitude = np.floor(np.log10(np.abs(x), out=np.zeros_like(x), where=(x != 0) & np.isfinite(x)))
    scale = 10.0 ** (digits - 1 - magnitude)
    # Two numbers written alike to `digits` significant digits give the same integer and
    # scale here, hence the same float.
    return np.where(np.isfinite(x), np.round(x * scale) / scale, x)


def _hash_rows(x: np.ndarray) -> list[int]:
    return [hash(row.tobytes()) for row in np.ascontiguousarray(x)]


@dataclass(frozen=True)
class ServedFile:
    """A downloadable file with feature rows, and how to name it in a warning."""

    name: str  # e.g. "digits v2 train.csv"
    keys: np.ndarray  # row_keys of its feature columns

    @classmethod
    def read(cls, name: str, data: bytes, features: Sequence[str]) -> ServedFile:
        return cls(name, row_keys(data, features))

    @classmethod
    def of(cls, name: str, file_name: str, data: bytes, manifest) -> ServedFile | None:
        """A served file of any dataset (tabular or image), or None when it holds no rows."""
        keys = served_keys(file_name, data, manifest)
        return None if keys is None else cls(name, keys)


@dataclass(frozen=True)
class Duplicates:
    """How many of a dataset's hidden test rows each served file holds."""

    n_test: int
    by_file: dict[str, int]  # only files holding at least one
    n_rows: int  # distinct test rows found in at least one file

    def as_warnings(self) -> list[dict]:
        """One warning per file: `{message, rows, file}`."""
        return [
            {
                "message": f"{n} of the {self.n_test} test rows (whose labels are hidden) are also rows "
                f"of {name}: participants can look their labels up there",
                "rows": n,
                "file": name,
            }
            for name, n in self.by_file.items()
        ]


def find_duplicates(test_keys: np.ndarray, served: Iterable[ServedFile]) -> Duplicates:
    """Which rows of `test_keys` (a test set's row_keys) appear in each served file."""
    found_any = np.zeros(test_keys.shape[0], dtype=bool)
    by_file: dict[str, int] = {}
    for file in served:
        if file.keys.shape[1] != test_keys.shape[1]:
            continue  # images against CSV rows: different kinds of row
        found = np.zeros(test_keys.shape[0], dtype=bool)
        for way in range(test_keys.shape[1]):
            found |= np.isin(test_keys[:, way], file.keys[:, way])
        if found.any():
            by_file[file.name] = int(found.sum())
            found_any |= found
    return Duplicates(n_test=int(test_keys.shape[0]), by_file=by_file, n_rows=int(found_any.sum()))


def served_files(name: str, bundle: DatasetBundle) -> list[ServedFile]:
    """The row-holding public files of a bundle (CSV rows or images), named `<name> <file>`."""
    out = []
    for file, data in sorted(bundle.public_files().items()):
        served = ServedFile.of(f"{name} {file}", file, data, bundle.manifest)
        if served is not None:
            out.append(served)
    return out


def bundle_duplicates(bundle: DatasetBundle, elsewhere: Iterable[ServedFile]) -> Duplicates:
    """The bundle's test rows found in its own train.csv or in any of the `elsewhere` files
    (the downloadable files of every other dataset)."""
    manifest = bundle.manifest
    train = TRAIN_ARRAY if is_image_manifest(manifest) else "train.csv"
    own_train = ServedFile.of(f"its own {train}", train, bundle.files[train], manifest)
    return find_duplicates(hidden_test_keys(bundle.files, manifest), [own_train, *elsewhere])

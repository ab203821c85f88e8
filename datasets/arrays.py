"""Dataset CSVs -> numpy arrays shaped for a model (the worker's entry point).

Parsing goes through pandas' C reader with fixed dtypes: a Python loop over rows
would cost more than a small model's training.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from datasets.bundle import sha256
from datasets.categorical import categorical_columns, encode_categories
from datasets.text import is_text, token_arrays


class Arrays(NamedTuple):
    X_train: np.ndarray  # float32, (n, *input_shape)
    y_train: np.ndarray  # int64 class index into manifest["classes"], or float32 for regression
    X_test: np.ndarray  # float32, (m, *input_shape)
    test_ids: np.ndarray  # object array of id strings, in test.csv order


class DatasetFileError(ValueError):
    pass


def _read_bytes(source, name: str, manifest: dict, verify: bool) -> bytes:
    if isinstance(source, dict):
        if name not in source:
            raise DatasetFileError(f"{name} is missing from the dataset files")
        data = source[name]
    else:
        path = Path(os.fspath(source)) / name
        if not path.is_file():
            raise DatasetFileError(f"{path} does not exist")
        data = path.read_bytes()
    if verify:
        expected = manifest.get("files", {}).get(name, {}).get("sha256")
        if expected and sha256(data) != expected:
            raise DatasetFileError(f"{name} does not match the manifest's sha256 (a corrupt or stale copy)")
    return data


def _read(data: bytes, name: str, manifest: dict, with_target: bool) -> pd.DataFrame:
    id_col, target, features = manifest["id_column"], manifest["target"], manifest["features"]
    dtype = {f: np.float32 for f in features}
    dtype.update({c: str for c in categorical_columns(manifest)})
    if is_text(manifest):
        dtype.update({f: str for f in features})
    dtype[id_col] = str
    columns = [id_col, *features]
    if with_target:
        dtype[target] = str if manifest["task_type"] == "classification" else np.float32
        columns.append(target)
    try:
        frame = pd.read_csv(
            io.BytesIO(data), engine="c", dtype=dtype, usecols=columns, keep_default_na=False, na_values=[""]
        )
    except (ValueError, pd.errors.ParserError) as e:
        raise DatasetFileError(f"{name} cannot be read as the manifest describes it: {e}") from None
    return frame


def _features(frame: pd.DataFrame, manifest: dict, name: str) -> np.ndarray:
    categorical = categorical_columns(manifest)
    if categorical:
        frame = frame.copy()
        for col, column in categorical.items():
            frame[col] = encode_categories(frame[col].fillna("").to_numpy(), column["categories"])
    x = frame[manifest["features"]].to_numpy(dtype=np.float32)
    if not np.isfinite(x).all():
        raise DatasetFileError(f"{name} has missing or non-finite feature values")
    return x.reshape((x.shape[0], *manifest["input_shape"]))


def load_arrays(source, manifest: dict, *, verify: bool = False) -> Arrays:
    """Arrays of a dataset from a directory holding its files or a dict name -> bytes.

    With verify=True each file's sha256 is checked against the manifest first.
    """
    train = _read(_read_bytes(source, "train.csv", manifest, verify), "train.csv", manifest, True)
    test = _read(_read_bytes(source, "test.csv", manifest, verify), "test.csv", manifest, False)
    y = target_array(train, manifest)
    if is_text(manifest):
        # The worker reads the token arrays made at upload and never tokenizes.
        try:
            X_train, X_test = token_arrays(lambda name: _read_bytes(source, name, manifest, verify), manifest)
        except ValueError as e:
            raise DatasetFileError(str(e)) from None
        return Arrays(X_train, y, X_test, test[manifest["id_column"]].to_numpy(dtype=object))
    return Arrays(
        X_train=_features(train, manifest, "train.csv"),
        y_train=y,
        X_test=_features(test, manifest, "test.csv"),
        test_ids=test[manifest["id_column"]].to_numpy(dtype=object),
    )


def target_array(train: pd.DataFrame, manifest: dict) -> np.ndarray:
    """train.csv's targets: class indices into the manifest's classes, or float32 numbers."""
    target = manifest["target"]
    if manifest["task_type"] == "classification":
        codes = pd.Index(manifest["classes"]).get_indexer(train[target]).astype(np.int64)
        if (codes < 0).any():
            bad = train[target].to_numpy()[codes < 0][0]
            raise DatasetFileError(f"train.csv has label {bad!r}, which is not among the manifest's classes")
        y = codes
    else:
        y = train[target].to_numpy(dtype=np.float32)
        if not np.isfinite(y).all():
            raise DatasetFileError("train.csv has missing or non-finite targets")
    return y

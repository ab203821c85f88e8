"""A lab run's evaluation rows: a seeded held-out part of the training file, or every hidden
test row (docs/architecture.md, "The lab").

The held-out rows are drawn by the one seeded stratified split (`datasets.splits`), from
the training targets alone, so the worker (which has train.csv) and the platform (which
recomputes the split to score) pick the same rows without either sending them. They are
named by their row number in train.csv (from 0): every dataset kind has a train.csv, and a
row number cannot collide with, or reveal, a test id.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from datasets.answer_key import AnswerKey, _classes, _targets
from datasets.splits import stratified_mask

# A fraction of the training rows held out: enough rows to score, enough left to train.
MIN_FRACTION = 0.05
MAX_FRACTION = 0.5


def holdout_mask(targets: np.ndarray, *, fraction: float, seed: int, task_type: str) -> np.ndarray:
    """Which training rows are held out: stratified by class for classification (the targets
    as class indices), a plain draw for regression; the same targets, fraction and seed give
    the same rows on either tier."""
    if not MIN_FRACTION <= fraction <= MAX_FRACTION:
        raise ValueError(f"the held-out fraction {fraction} must be from {MIN_FRACTION} to {MAX_FRACTION}")
    labels = np.asarray(targets) if task_type == "classification" else None
    mask = stratified_mask(len(targets), fraction=fraction, rng=np.random.default_rng(seed), labels=labels)
    if mask.all() or not mask.any():
        raise ValueError(
            f"the training file's {len(targets)} rows are too few to hold out {fraction:.0%} of them"
        )
    return mask


def holdout_row_ids(mask: np.ndarray) -> np.ndarray:
    """The held-out rows' ids as the worker writes them in its predictions: row numbers."""
    return np.flatnonzero(mask).astype(str).astype(object)


def holdout_answer_key(train_csv: bytes, manifest: dict, *, fraction: float, seed: int) -> AnswerKey:
    """The held-out rows of train.csv as an answer key: ids their row numbers, every row scored
    (`public`). The platform scores a lab run's predictions against it."""
    frame = pd.read_csv(
        io.BytesIO(train_csv),
        dtype=str,
        keep_default_na=False,
        engine="c",
        usecols=[manifest["id_column"], manifest["target"]],
    )
    _, targets = _targets(frame[manifest["id_column"]], frame[manifest["target"]], manifest)
    mask = holdout_mask(targets, fraction=fraction, seed=seed, task_type=manifest["task_type"])
    return AnswerKey(
        holdout_row_ids(mask),
        targets[mask],
        np.ones(int(mask.sum()), dtype=bool),
        manifest["task_type"],
        _classes(manifest),
    )


def every_test_row_key(test_labels_csv: bytes, manifest: dict) -> AnswerKey:
    """Every hidden test row as an answer key, all scored (a staff study's `test` mode)."""
    frame = pd.read_csv(io.BytesIO(test_labels_csv), dtype=str, keep_default_na=False, engine="c")
    ids, targets = _targets(frame[manifest["id_column"]], frame[manifest["target"]], manifest)
    return AnswerKey(ids, targets, np.ones(len(ids), dtype=bool), manifest["task_type"], _classes(manifest))

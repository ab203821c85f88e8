"""The one seeded, stratified split of rows: an upload's test hold-out and an answer key's
public/private partition are both drawn by it."""

from __future__ import annotations

import numpy as np


def stratified_mask(n: int, *, fraction: float, rng: np.random.Generator, labels=None) -> np.ndarray:
    """Boolean mask choosing round(fraction * size) rows of every class, or of all `n` rows
    when `labels` is None (regression).

    Classes are drawn one after the other in sorted label order, each from a permutation
    taken from `rng`: the same labels, fraction and seed always give the same rows.
    """
    mask = np.zeros(n, dtype=bool)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for idx in groups:
        k = int(round(len(idx) * fraction))
        mask[rng.permutation(idx)[:k]] = True
    return mask

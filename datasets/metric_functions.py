"""The metric library's value functions and their per-resample forms, in numpy alone.

Each value function takes (y_true, y_pred, n_classes) as datasets.metrics.Metric calls
it: class indices for label metrics, an (n, K) matrix for probability metrics, floats
for regression. Each per-resample form takes the (resamples x rows) gathered arrays, or
(for the rank-based ones) a count of how often each row was drawn, and gives one value
per resample; tests hold every form equal to its value function and to scikit-learn or
SciPy.

Undefined cases give nan, never a made-up number: a score of nan is stored as "no score"
(docs/leaderboard.md), and a competition whose answer key would leave one of its metrics
undefined on a split is refused at creation (podium.competitions.services).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

# The positive class of binary metrics is the second class of the dataset's list (index 1),
# and a probability file's row is positive at or above this probability of it.
BINARY_THRESHOLD = 0.5
_EPS = np.finfo(np.float64).eps


def counts_per_resample(yt: np.ndarray, yp: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offset labels (each resample's k classes apart), true counts and true positives, (r, k)."""
    r = yt.shape[0]
    offsets = (np.arange(r) * k)[:, None]
    true_count = np.bincount((yt + offsets).ravel(), minlength=r * k).reshape(r, k)
    tp = np.bincount((yt + offsets)[yt == yp], minlength=r * k).reshape(r, k)
    return offsets, true_count, tp


def _pred_counts(yp: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    r = yp.shape[0]
    return np.bincount((yp + offsets).ravel(), minlength=r * k).reshape(r, k)


def _classes(y_true, y_pred, n_classes) -> int:
    if n_classes is not None:
        return int(n_classes)
    return max(int(y_true.max(initial=-1)), int(y_pred.max(initial=-1))) + 1


def _as_2d(y_true, y_pred):
    return y_true[None, :], y_pred[None, :]


# --- labels from probabilities ------------------------------------------------------


def labels_argmax(proba: np.ndarray) -> np.ndarray:
    """The most probable class of each row (the first of equal ones, as numpy's argmax)."""
    return proba.argmax(axis=1).astype(np.int64)


def labels_at_threshold(proba: np.ndarray) -> np.ndarray:
    """Binary metrics: the positive class (1) at or above BINARY_THRESHOLD of its probability."""
    return (proba[:, 1] >= BINARY_THRESHOLD).astype(np.int64)


# --- F1 (micro, weighted, binary), precision, recall ----------------------------------


def _weighted_f1_rows(yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    offsets, true_count, tp = counts_per_resample(yt, yp, k)
    pred_count = _pred_counts(yp, offsets, k)
    denominator = true_count + pred_count
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denominator > 0, 2.0 * tp / np.maximum(denominator, 1), 0.0)
    # scikit-learn weighs each class by its true support: absent classes weigh nothing.
    return (f1 * true_count).sum(axis=1) / true_count.sum(axis=1)


def weighted_f1(y_true, y_pred, n_classes=None) -> float:
    return float(_weighted_f1_rows(*_as_2d(y_true, y_pred), _classes(y_true, y_pred, n_classes))[0])


def weighted_f1_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    return _weighted_f1_rows(yt, yp, _classes(yt, yp, n_classes))


def _binary_counts(yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, actual positives and predicted positives of class 1, per resample."""
    true_pos = yt == 1
    pred_pos = yp == 1
    return (
        np.count_nonzero(true_pos & pred_pos, axis=1).astype(np.float64),
        np.count_nonzero(true_pos, axis=1).astype(np.float64),
        np.count_nonzero(pred_pos, axis=1).astype(np.float64),
    )


def _ratio_or_zero(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # scikit-learn's zero_division default: 0 where nothing was predicted (or is positive).
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), 0.0)


def binary_f1_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    tp, actual, predicted = _binary_counts(yt, yp)
    return _ratio_or_zero(2.0 * tp, actual + predicted)


def precision_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    tp, _, predicted = _binary_counts(yt, yp)
    return _ratio_or_zero(tp, predicted)


def recall_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    tp, actual, _ = _binary_counts(yt, yp)
    return _ratio_or_zero(tp, actual)


def binary_f1(y_true, y_pred, n_classes=None) -> float:
    return float(binary_f1_per_resample(*_as_2d(y_true, y_pred))[0])


def precision(y_true, y_pred, n_classes=None) -> float:
    return float(precision_per_resample(*_as_2d(y_true, y_pred))[0])


def recall(y_true, y_pred, n_classes=None) -> float:
    return float(recall_per_resample(*_as_2d(y_true, y_pred))[0])


# --- agreement: Matthews correlation, quadratic-weighted kappa ----------------------


def _mcc_rows(yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    offsets, t_sum, tp = counts_per_resample(yt, yp, k)
    p_sum = _pred_counts(yp, offsets, k).astype(np.float64)
    t_sum = t_sum.astype(np.float64)
    n = t_sum.sum(axis=1)
    correct = tp.sum(axis=1).astype(np.float64)
    cov_tp = correct * n - (t_sum * p_sum).sum(axis=1)
    cov_pp = n * n - (p_sum * p_sum).sum(axis=1)
    cov_tt = n * n - (t_sum * t_sum).sum(axis=1)
    denominator = cov_tt * cov_pp
    # scikit-learn's value where a side is constant: 0 (no correlation can be measured).
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, cov_tp / np.sqrt(np.maximum(denominator, 1e-300)), 0.0)


def matthews_corrcoef(y_true, y_pred, n_classes=None) -> float:
    return float(_mcc_rows(*_as_2d(y_true, y_pred), _classes(y_true, y_pred, n_classes))[0])


def matthews_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    return _mcc_rows(yt, yp, _classes(yt, yp, n_classes))


def _quadratic_kappa_rows(yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    """1 - sum(w * observed) / sum(w * expected), w = (i - j)^2 over the dataset's class order.

    With w quadratic both sums reduce to moments of the two label columns: sum(w * observed)
    is the sum of squared differences, sum(w * expected) the same over independent pairs."""
    yt = yt.astype(np.float64)
    yp = yp.astype(np.float64)
    n = yt.shape[1]
    observed = ((yt - yp) ** 2).sum(axis=1)
    mt, mp = yt.mean(axis=1), yp.mean(axis=1)
    # E[(a - b)^2] for independent a ~ true labels, b ~ predicted labels, times n.
    expected = n * ((yt**2).mean(axis=1) - 2 * mt * mp + (yp**2).mean(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1.0 - observed / np.where(expected > 0, expected, 1.0), np.nan)


def quadratic_kappa(y_true, y_pred, n_classes=None) -> float:
    return float(_quadratic_kappa_rows(*_as_2d(y_true, y_pred), _classes(y_true, y_pred, n_classes))[0])


def quadratic_kappa_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    return _quadratic_kappa_rows(yt, yp, _classes(yt, yp, n_classes))


# --- top-k accuracy ------------------------------------------------------------------


def top_k_hits(k: int):
    """Per-row hits of top-k accuracy. Equal probabilities are ordered as scikit-learn orders
    them (a stable sort, reversed): of equal ones the class with the higher index comes first."""

    def hits(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
        rows = np.arange(y_true.shape[0])
        own = proba[rows, y_true][:, None]
        above = np.count_nonzero(proba > own, axis=1)
        columns = np.arange(proba.shape[1])[None, :]
        tied_after = np.count_nonzero((proba == own) & (columns > y_true[:, None]), axis=1)
        return ((above + tied_after) < k).astype(np.float64)

    return hits


def top_k_accuracy(k: int):
    hits = top_k_hits(k)

    def value(y_true, proba, n_classes=None) -> float:
        return float(hits(y_true, proba).mean())

    return value


# --- average precision -----------------------------------------------------------------


def _descending_groups(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, starts


def _average_precision_of_counts(
    counts: np.ndarray, positive: np.ndarray, order: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """AP of resamples given as draw counts per row: scikit-learn's step sum over the
    distinct scores, highest first: sum of (recall gained) x (precision at that score)."""
    ordered = counts[:, order]
    pos = np.add.reduceat(ordered * positive[order], starts, axis=1)
    allg = np.add.reduceat(ordered, starts, axis=1)
    tp = np.cumsum(pos, axis=1)
    seen = np.cumsum(allg, axis=1)
    n_pos = tp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision_at = np.where(seen > 0, tp / np.maximum(seen, 1), 0.0)
        ap = (pos * precision_at).sum(axis=1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


def average_precision(y_true, proba, n_classes=None) -> float:
    positive = y_true == 1
    order, starts = _descending_groups(proba[:, 1])
    counts = np.ones((1, y_true.shape[0]), dtype=np.float64)
    return float(_average_precision_of_counts(counts, positive, order, starts)[0])


def _draw_counts(draws: np.ndarray) -> np.ndarray:
    r, size = draws.shape
    offsets = (np.arange(r, dtype=np.int64) * size)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=r * size).reshape(r, size).astype(np.float64)


class AveragePrecisionFromCounts:
    """Average precision of many resamples: the rows sorted by score once, each resample a
    count of draws per row (as datasets.metrics.AucFromCounts does for ROC AUC)."""

    working_arrays: ClassVar[int] = 5

    def bind(self, y, p, n_classes=None):
        positive = y == 1
        order, starts = _descending_groups(p[:, 1])
        return lambda draws: _average_precision_of_counts(_draw_counts(draws), positive, order, starts)


# --- regression: RMSLE, MAPE -------------------------------------------------------------


def squared_log_errors(y_true, y_pred) -> np.ndarray:
    return (np.log1p(y_true) - np.log1p(y_pred)) ** 2


def rmsle(y_true, y_pred, n_classes=None) -> float:
    return float(np.sqrt(squared_log_errors(y_true.astype(np.float64), y_pred).mean()))


def percentage_errors(y_true, y_pred) -> np.ndarray:
    # scikit-learn's guard: a true value of 0 divides by machine epsilon (a huge error).
    return np.abs(y_true - y_pred) / np.maximum(np.abs(y_true), _EPS)


def mape(y_true, y_pred, n_classes=None) -> float:
    return float(percentage_errors(y_true.astype(np.float64), y_pred).mean())


# --- correlations ------------------------------------------------------------------------


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Pearson's r per row of (r, n) arrays, each row's values weighted by w (draw counts)."""
    if w is None:
        w = np.ones_like(x)
    total = w.sum(axis=1, keepdims=True)
    cx = x - (w * x).sum(axis=1, keepdims=True) / total
    cy = y - (w * y).sum(axis=1, keepdims=True) / total
    sxy = (w * cx * cy).sum(axis=1)
    sxx = (w * cx * cx).sum(axis=1)
    syy = (w * cy * cy).sum(axis=1)
    # Constant values on either side: undefined (SciPy's nan).
    defined = (sxx > 0) & (syy > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(defined, sxy / np.sqrt(np.where(defined, sxx * syy, 1.0)), np.nan)
    return np.clip(r, -1.0, 1.0)


def pearson(y_true, y_pred, n_classes=None) -> float:
    return float(pearson_per_resample(*_as_2d(y_true, y_pred))[0])


def _standardised(v: np.ndarray) -> np.ndarray:
    # Centred and scaled by the largest magnitude first, so squares neither overflow nor lose
    # the spread of large values (SciPy normalises the same way).
    c = v - v.mean(axis=1, keepdims=True)
    scale = np.abs(c).max(axis=1, keepdims=True)
    return np.divide(c, scale, out=np.zeros_like(c), where=scale > 0)


def pearson_per_resample(yt, yp, n_classes=None) -> np.ndarray:
    yt, yp = yt.astype(np.float64), yp.astype(np.float64)
    r = _weighted_pearson(_standardised(yt), _standardised(yp), None)
    # Tested on the values themselves: a mean's rounding leaves a constant's deviations non-zero.
    constant = (yt == yt[:, :1]).all(axis=1) | (yp == yp[:, :1]).all(axis=1)
    return np.where(constant, np.nan, r)


class _RanksOfCounts:
    """Average ranks (ties share their mean rank) of resamples given as draw counts per row."""

    def __init__(self, values: np.ndarray):
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        self.order = order
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        group_of_sorted = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
        self.group_of_row = np.empty_like(group_of_sorted)
        self.group_of_row[order] = group_of_sorted

    def ranks(self, counts: np.ndarray) -> np.ndarray:
        per_group = np.add.reduceat(counts[:, self.order], self.starts, axis=1)
        below = np.cumsum(per_group, axis=1) - per_group
        return (below + (per_group + 1.0) / 2.0)[:, self.group_of_row]


def spearman(y_true, y_pred, n_classes=None) -> float:
    counts = np.ones((1, y_true.shape[0]), dtype=np.float64)
    return float(_spearman_of_counts(counts, _RanksOfCounts(y_true), _RanksOfCounts(y_pred))[0])


def _spearman_of_counts(counts: np.ndarray, true_ranks: _RanksOfCounts, pred_ranks: _RanksOfCounts):
    return _weighted_pearson(true_ranks.ranks(counts), pred_ranks.ranks(counts), counts)


class SpearmanFromCounts:
    """Spearman's rho of many resamples without sorting each: a resample is a count of draws
    per row, its ranks cumulative counts along the order sorted once, and rho the Pearson
    correlation of the ranks weighted by the counts."""

    working_arrays: ClassVar[int] = 8

    def bind(self, y, p, n_classes=None):
        true_ranks, pred_ranks = _RanksOfCounts(y), _RanksOfCounts(p)
        return lambda draws: _spearman_of_counts(_draw_counts(draws), true_ranks, pred_ranks)

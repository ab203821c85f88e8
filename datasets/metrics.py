"""Scoring metrics, vectorised with numpy, equal to scikit-learn's to 1e-9.

Classification metrics take class indices (int64, positions in the manifest's
`classes`); probability metrics take an (n, K) matrix whose columns follow the
same order; regression metrics take floats. scikit-learn stays out of the hot
path because its input checks cost more than the arithmetic on a million rows.

A metric is one `Metric` entry in METRICS: its value function and its `resampling`,
the form in which a bootstrap recomputes it on a thousand resamples at once. The
bootstrap only asks the resampling; a metric without one cannot be registered.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np


class Resampling(Protocol):
    """How a bootstrap recomputes a metric on many resamples of the same rows."""

    # How many (resamples x rows) arrays it holds at once: the bootstrap sizes its chunks by it.
    working_arrays: ClassVar[int]

    def bind(self, y: np.ndarray, p: np.ndarray, n_classes: int | None) -> Callable[[np.ndarray], np.ndarray]:
        """The metric of each resample, given the (resamples x rows) row indices it drew."""
        ...


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    task_type: str  # classification | regression
    higher_is_better: bool
    needs_proba: bool
    fn: Callable[..., float]
    resampling: Resampling

    def __call__(self, y_true, y_pred, n_classes: int | None = None) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred), n_classes))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


# --- how metrics are resampled ----------------------------------------------------------


@dataclass(frozen=True)
class MeanOfRows:
    """A metric that is a function of the mean of a per-row term (accuracy, log loss, MAE,
    RMSE): a resample's value is the mean of the terms it drew, and a score can sum any
    number of splits in one pass over the rows."""

    term: Callable[[np.ndarray, np.ndarray], np.ndarray]
    finish: Callable[[np.ndarray], np.ndarray] | None = None  # e.g. RMSE's square root
    working_arrays: ClassVar[int] = 1

    def of_means(self, means: np.ndarray) -> np.ndarray:
        return means if self.finish is None else self.finish(means)

    def bind(self, y, p, n_classes=None):
        terms = self.term(y, p)
        return lambda draws: self.of_means(terms[draws].mean(axis=1))


@dataclass(frozen=True)
class PerResample:
    """A metric with a form vectorised over resamples: `fn(y[draws], p[draws], n_classes)`
    gives one value per resample (balanced accuracy and macro-F1 from per-resample
    confusion counts, R² from per-resample sums)."""

    fn: Callable[[np.ndarray, np.ndarray, int | None], np.ndarray]
    working_arrays: ClassVar[int] = 1

    def bind(self, y, p, n_classes=None):
        return lambda draws: self.fn(y[draws], p[draws], n_classes)


class AucFromCounts:
    """ROC AUC (binary, or one-vs-rest macro) of many resamples without sorting each one.

    The rows are sorted by score once per class. A resample is then the number of times
    it drew each row, and its Mann-Whitney count is a cumulative sum along that order:
    O(rows) per resample instead of a sort. Equal scores form one group, so a positive
    and a negative with the same score count half, as in auc_binary."""

    working_arrays: ClassVar[int] = 4

    def bind(self, y, p, n_classes=None):
        return _AucOfCounts(y, p).of


# --- the metrics ------------------------------------------------------------------------


def _minlength(y_true, y_pred, n_classes):
    if n_classes is not None:
        return int(n_classes)
    top = max(int(y_true.max(initial=-1)), int(y_pred.max(initial=-1)))
    return top + 1


def accuracy(y_true, y_pred, n_classes=None) -> float:
    return float(np.count_nonzero(y_true == y_pred)) / y_true.shape[0]


def _hits(y_true, y_pred) -> np.ndarray:
    return (y_true == y_pred).astype(np.float64)


def balanced_accuracy(y_true, y_pred, n_classes=None) -> float:
    k = _minlength(y_true, y_pred, n_classes)
    support = np.bincount(y_true, minlength=k)
    correct = np.bincount(y_true[y_true == y_pred], minlength=k)
    # Like scikit-learn: classes absent from y_true have no recall and are left out.
    present = support > 0
    return float(np.mean(correct[present] / support[present]))


def _counts_per_resample(yt: np.ndarray, yp: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offset labels (each resample's k classes apart), true counts and true positives, (r, k)."""
    r = yt.shape[0]
    offsets = (np.arange(r) * k)[:, None]
    true_count = np.bincount((yt + offsets).ravel(), minlength=r * k).reshape(r, k)
    tp = np.bincount((yt + offsets)[yt == yp], minlength=r * k).reshape(r, k)
    return offsets, true_count, tp


def _balanced_accuracy_per_resample(yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    _, true_count, tp = _counts_per_resample(yt, yp, k)
    present = true_count > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(present, tp / true_count, 0.0)
        return recall.sum(axis=1) / present.sum(axis=1)


def macro_f1(y_true, y_pred, n_classes=None) -> float:
    k = _minlength(y_true, y_pred, n_classes)
    true_count = np.bincount(y_true, minlength=k)
    pred_count = np.bincount(y_pred, minlength=k)
    tp = np.bincount(y_true[y_true == y_pred], minlength=k)
    # scikit-learn averages over the labels seen in y_true or y_pred.
    present = (true_count + pred_count) > 0
    return float(np.mean(2.0 * tp[present] / (true_count[present] + pred_count[present])))


def _macro_f1_per_resample(yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    offsets, true_count, tp = _counts_per_resample(yt, yp, k)
    r = yt.shape[0]
    pred_count = np.bincount((yp + offsets).ravel(), minlength=r * k).reshape(r, k)
    present = (true_count + pred_count) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2.0 * tp / (true_count + pred_count), 0.0)
        return f1.sum(axis=1) / present.sum(axis=1)


_EPS = np.finfo(np.float64).eps


def log_loss(y_true, proba, n_classes=None) -> float:
    p = proba[np.arange(y_true.shape[0]), y_true].astype(np.float64, copy=False)
    return float(-np.mean(np.log(np.clip(p, _EPS, 1 - _EPS))))


def _log_losses(y_true, proba) -> np.ndarray:
    return -np.log(np.clip(proba[np.arange(y_true.shape[0]), y_true], _EPS, 1 - _EPS))


def _average_ranks(sorted_scores: np.ndarray) -> np.ndarray:
    """1-based ranks of an ascending array, ties sharing their average rank."""
    n = sorted_scores.shape[0]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], n]
    avg = (starts + ends + 1) / 2.0
    return np.repeat(avg, ends - starts)


def auc_binary(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank sum (ties count half)."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = _average_ranks(scores[order])
    rank_sum = ranks[positive[order]].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(y_true, proba, n_classes=None) -> float:
    """Binary AUC of the second class, or one-vs-rest macro AUC for more classes.

    scikit-learn refuses a class with no positives; here such a class is left out
    of the average (a small public split may lack a rare class), nan if none is left.
    """
    k = proba.shape[1]
    if k == 2:
        return auc_binary(y_true == 1, proba[:, 1])
    aucs = [auc_binary(y_true == c, proba[:, c]) for c in range(k)]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


class _AucOfCounts:
    """AucFromCounts bound to one split's rows: their order by score, per class, sorted once."""

    def __init__(self, y: np.ndarray, proba: np.ndarray):
        k = proba.shape[1]
        self.binary = k == 2
        self.classes = []
        for c in [1] if self.binary else range(k):
            order = np.argsort(proba[:, c], kind="stable")
            ordered = proba[order, c]
            groups = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            self.classes.append((order, groups, (y == c)[order]))

    def of(self, draws: np.ndarray) -> np.ndarray:
        r, size = draws.shape
        offsets = (np.arange(r, dtype=np.int64) * size)[:, None]
        # float32 holds every count and cumulative count exactly (a resample has < 2**24 rows).
        counts = (
            np.bincount((draws + offsets).ravel(), minlength=r * size).reshape(r, size).astype(np.float32)
        )
        per_class = []
        for order, groups, positive in self.classes:
            ordered = counts[:, order]
            neg = ordered * ~positive
            n_neg = neg.sum(axis=1, dtype=np.float64)
            n_pos = ordered.sum(axis=1, dtype=np.float64) - n_neg
            if groups.shape[0] == size:
                # No equal scores: a positive row's group holds no negative.
                wins = np.einsum("ij,ij->i", ordered * positive, np.cumsum(neg, axis=1), dtype=np.float64)
            else:
                pos = np.add.reduceat(ordered * positive, groups, axis=1)
                neg = np.add.reduceat(neg, groups, axis=1)
                below = np.cumsum(neg, axis=1) - neg
                wins = np.einsum("ij,ij->i", pos, below + 0.5 * neg, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                pairs = n_pos * n_neg
                per_class.append(np.where(pairs > 0, wins / pairs, np.nan))
        if self.binary:
            return per_class[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no class left: nan
            return np.nanmean(np.vstack(per_class), axis=0)


def rmse(y_true, y_pred, n_classes=None) -> float:
    d = y_true.astype(np.float64, copy=False) - y_pred
    return float(np.sqrt(np.dot(d, d) / d.shape[0]))


def _squared_errors(y_true, y_pred) -> np.ndarray:
    return (y_true - y_pred) ** 2


def mae(y_true, y_pred, n_classes=None) -> float:
    return float(np.mean(np.abs(y_true.astype(np.float64, copy=False) - y_pred)))


def _absolute_errors(y_true, y_pred) -> np.ndarray:
    return np.abs(y_true - y_pred)


def r2(y_true, y_pred, n_classes=None) -> float:
    y = y_true.astype(np.float64, copy=False)
    if y.shape[0] < 2:
        return float("nan")
    d = y - y_pred
    ss_res = np.dot(d, d)
    c = y - y.mean()
    ss_tot = np.dot(c, c)
    if ss_tot == 0:
        # scikit-learn's force_finite: a perfect fit of a constant is 1, anything else 0.
        return 1.0 if ss_res == 0 else 0.0
    return float(1.0 - ss_res / ss_tot)


def _r2_per_resample(yt: np.ndarray, yp: np.ndarray, n_classes=None) -> np.ndarray:
    ss_res = ((yt - yp) ** 2).sum(axis=1)
    ss_tot = ((yt - yt.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 - ss_res / ss_tot
    r[ss_tot == 0] = np.where(ss_res[ss_tot == 0] == 0, 1.0, 0.0)
    return r


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            name="accuracy",
            title="Accuracy",
            task_type="classification",
            higher_is_better=True,
            needs_proba=False,
            fn=accuracy,
            resampling=MeanOfRows(_hits),
        ),
        Metric(
            name="balanced_accuracy",
            title="Balanced accuracy",
            task_type="classification",
            higher_is_better=True,
            needs_proba=False,
            fn=balanced_accuracy,
            resampling=PerResample(_balanced_accuracy_per_resample),
        ),
        Metric(
            name="macro_f1",
            title="Macro F1",
            task_type="classification",
            higher_is_better=True,
            needs_proba=False,
            fn=macro_f1,
            resampling=PerResample(_macro_f1_per_resample),
        ),
        Metric(
            name="log_loss",
            title="Log loss",
            task_type="classification",
            higher_is_better=False,
            needs_proba=True,
            fn=log_loss,
            resampling=MeanOfRows(_log_losses),
        ),
        Metric(
            name="roc_auc",
            title="ROC AUC (one-vs-rest macro)",
            task_type="classification",
            higher_is_better=True,
            needs_proba=True,
            fn=roc_auc,
            resampling=AucFromCounts(),
        ),
        Metric(
            name="rmse",
            title="Root mean squared error",
            task_type="regression",
            higher_is_better=False,
            needs_proba=False,
            fn=rmse,
            resampling=MeanOfRows(_squared_errors, finish=np.sqrt),
        ),
        Metric(
            name="mae",
            title="Mean absolute error",
            task_type="regression",
            higher_is_better=False,
            needs_proba=False,
            fn=mae,
            resampling=MeanOfRows(_absolute_errors),
        ),
        Metric(
            name="r2",
            title="R²",
            task_type="regression",
            higher_is_better=True,
            needs_proba=False,
            fn=r2,
            resampling=PerResample(_r2_per_resample),
        ),
    ]
}


def metrics_for(task_type: str) -> list[str]:
    return [name for name, m in METRICS.items() if m.task_type == task_type]


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}") from None

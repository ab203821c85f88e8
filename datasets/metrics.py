"""Scoring metrics, vectorised with numpy, equal to scikit-learn's to 1e-9.

Classification metrics take class indices (int64, positions in the manifest's
`classes`); probability metrics take an (n, K) matrix whose columns follow the
same order; regression metrics take floats. scikit-learn stays out of the hot
path because its input checks cost more than the arithmetic on a million rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    task_type: str  # classification | regression
    higher_is_better: bool
    needs_proba: bool
    fn: Callable[..., float]

    def __call__(self, y_true, y_pred, n_classes: int | None = None) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred), n_classes))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


def _minlength(y_true, y_pred, n_classes):
    if n_classes is not None:
        return int(n_classes)
    top = max(int(y_true.max(initial=-1)), int(y_pred.max(initial=-1)))
    return top + 1


def accuracy(y_true, y_pred, n_classes=None) -> float:
    return float(np.count_nonzero(y_true == y_pred)) / y_true.shape[0]


def balanced_accuracy(y_true, y_pred, n_classes=None) -> float:
    k = _minlength(y_true, y_pred, n_classes)
    support = np.bincount(y_true, minlength=k)
    correct = np.bincount(y_true[y_true == y_pred], minlength=k)
    # Like scikit-learn: classes absent from y_true have no recall and are left out.
    present = support > 0
    return float(np.mean(correct[present] / support[present]))


def macro_f1(y_true, y_pred, n_classes=None) -> float:
    k = _minlength(y_true, y_pred, n_classes)
    true_count = np.bincount(y_true, minlength=k)
    pred_count = np.bincount(y_pred, minlength=k)
    tp = np.bincount(y_true[y_true == y_pred], minlength=k)
    # scikit-learn averages over the labels seen in y_true or y_pred.
    present = (true_count + pred_count) > 0
    return float(np.mean(2.0 * tp[present] / (true_count[present] + pred_count[present])))


def log_loss(y_true, proba, n_classes=None) -> float:
    eps = np.finfo(np.float64).eps
    p = proba[np.arange(y_true.shape[0]), y_true].astype(np.float64, copy=False)
    return float(-np.mean(np.log(np.clip(p, eps, 1 - eps))))


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


def rmse(y_true, y_pred, n_classes=None) -> float:
    d = y_true.astype(np.float64, copy=False) - y_pred
    return float(np.sqrt(np.dot(d, d) / d.shape[0]))


def mae(y_true, y_pred, n_classes=None) -> float:
    return float(np.mean(np.abs(y_true.astype(np.float64, copy=False) - y_pred)))


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


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", "Accuracy", "classification", True, False, accuracy),
        Metric("balanced_accuracy", "Balanced accuracy", "classification", True, False, balanced_accuracy),
        Metric("macro_f1", "Macro F1", "classification", True, False, macro_f1),
        Metric("log_loss", "Log loss", "classification", False, True, log_loss),
        Metric("roc_auc", "ROC AUC (one-vs-rest macro)", "classification", True, True, roc_auc),
        Metric("rmse", "Root mean squared error", "regression", False, False, rmse),
        Metric("mae", "Mean absolute error", "regression", False, False, mae),
        Metric("r2", "R²", "regression", True, False, r2),
    ]
}


def metrics_for(task_type: str) -> list[str]:
    return [name for name, m in METRICS.items() if m.task_type == task_type]


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}") from None

"""Scoring metrics, vectorised with numpy, equal to scikit-learn's to 1e-9.

Classification metrics take class indices (int64, positions in the manifest's
`classes`); probability metrics take an (n, K) matrix whose columns follow the
same order; regression metrics take floats. scikit-learn stays out of the hot
path because its input checks cost more than the arithmetic on a million rows.

A metric is one `Metric` entry in METRICS: its value function and its `resampling`,
the form in which a bootstrap recomputes it on a thousand resamples at once. The
bootstrap only asks the resampling. Each metric also declares what it accepts: its task
type, the prediction formats it scores (a label metric also scores a probability file,
through its `labels_from_proba`), how many classes it needs and the values it is defined
on. The built-in library is here and in datasets.metric_functions; operators add metrics
as plugins (datasets.metric_plugins), which join METRICS when this module is imported.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from datasets import metric_functions as mf
from datasets.metric_functions import counts_per_resample, labels_argmax, labels_at_threshold


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
    # None: recompute `fn` on each resample (a plugin that gives no vectorised form).
    resampling: Resampling | None = None
    description: str = ""
    min_classes: int = 2
    max_classes: int | None = None
    # Regression metrics defined only above a bound (RMSLE: log1p needs values > -1).
    values_above: float | None = None
    # How a label metric reads a probability file; None: the most probable class.
    labels_from_proba: Callable[[np.ndarray], np.ndarray] | None = None
    # "built-in", or the plugin's distribution and entry point; plugins run isolated.
    source: str = "built-in"

    def __post_init__(self):
        if self.resampling is None:
            object.__setattr__(self, "resampling", EachResample(self.fn))

    def __call__(self, y_true, y_pred, n_classes: int | None = None) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred), n_classes))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    @property
    def is_plugin(self) -> bool:
        return self.source != "built-in"

    @property
    def prediction_kinds(self) -> tuple[str, ...]:
        """The prediction formats it scores: `label`, `proba` (class probabilities), `value`."""
        if self.task_type == "regression":
            return ("value",)
        return ("proba",) if self.needs_proba else ("label", "proba")

    def labels_of(self, proba: np.ndarray) -> np.ndarray:
        if self.labels_from_proba is not None:
            return self.labels_from_proba(proba)
        return labels_argmax(proba)

    def input_of(self, values: np.ndarray, kind: str) -> np.ndarray:
        """Predictions of `kind` as this metric reads them; ValueError for a format it cannot score."""
        if kind not in self.prediction_kinds:
            raise ValueError(f"metric {self.name!r} cannot score {kind} predictions")
        if kind == "proba" and not self.needs_proba:
            return self.labels_of(values)
        return values

    def classes_problem(self, n_classes: int | None) -> str | None:
        """Why a dataset with this many classes cannot use the metric, or None."""
        if self.task_type != "classification" or n_classes is None:
            return None
        if n_classes < self.min_classes:
            return (
                f"metric {self.name!r} needs at least {self.min_classes} classes; the dataset has {n_classes}"
            )
        if self.max_classes is not None and n_classes > self.max_classes:
            exactly = "exactly" if self.max_classes == self.min_classes else "at most"
            return f"metric {self.name!r} needs {exactly} {self.max_classes} classes; the dataset has {n_classes}"
        return None

    @property
    def interval(self) -> str:
        """How its bootstrap interval is computed, in words (the metric list shows it)."""
        return INTERVAL_TEXT.get(type(self.resampling).__name__, INTERVAL_TEXT["EachResample"])


INTERVAL_TEXT = {
    "MeanOfRows": "95% percentile bootstrap of the public score, 1,000 resamples of the public rows: "
    "the mean of per-row terms of each resample",
    "PerResample": "95% percentile bootstrap of the public score, 1,000 resamples of the public rows, "
    "computed for all resamples at once from per-resample counts",
    "AucFromCounts": "95% percentile bootstrap of the public score, 1,000 resamples of the public rows: "
    "rank counts along one sort of the scores",
    "AveragePrecisionFromCounts": "95% percentile bootstrap of the public score, 1,000 resamples of the "
    "public rows: precision steps along one sort of the scores",
    "SpearmanFromCounts": "95% percentile bootstrap of the public score, 1,000 resamples of the public rows: "
    "tied ranks from draw counts along one sort of each column",
    "EachResample": "95% percentile bootstrap of the public score, 1,000 resamples of the public rows, "
    "the metric recomputed on each",
}


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
class EachResample:
    """The metric recomputed on each resample: the form of a plugin that gives no other."""

    fn: Callable[..., float]
    working_arrays: ClassVar[int] = 1

    def bind(self, y, p, n_classes=None):
        def of(draws: np.ndarray) -> np.ndarray:
            return np.array([float(self.fn(y[d], p[d], n_classes)) for d in draws], dtype=np.float64)

        return of


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


def _balanced_accuracy_per_resample(yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    _, true_count, tp = counts_per_resample(yt, yp, k)
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
    offsets, true_count, tp = counts_per_resample(yt, yp, k)
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


def _classification(name, title, fn, resampling, description, **declared) -> Metric:
    return Metric(
        name=name,
        title=title,
        task_type="classification",
        higher_is_better=declared.pop("higher_is_better", True),
        needs_proba=declared.pop("needs_proba", False),
        fn=fn,
        resampling=resampling,
        description=description,
        **declared,
    )


def _regression(name, title, fn, resampling, description, *, higher_is_better=False, **declared) -> Metric:
    return Metric(
        name=name,
        title=title,
        task_type="regression",
        higher_is_better=higher_is_better,
        needs_proba=False,
        fn=fn,
        resampling=resampling,
        description=description,
        **declared,
    )


_BINARY = {"min_classes": 2, "max_classes": 2}
_AT_THRESHOLD = {**_BINARY, "labels_from_proba": labels_at_threshold}
_POSITIVE = "The positive class is the second class of the dataset's class list"

BUILT_IN: list[Metric] = [
    _classification(
        "accuracy",
        "Accuracy",
        accuracy,
        MeanOfRows(_hits),
        "The share of rows whose predicted class is the true class.",
    ),
    _classification(
        "balanced_accuracy",
        "Balanced accuracy",
        balanced_accuracy,
        PerResample(_balanced_accuracy_per_resample),
        "The mean recall of the classes present in the answer key: each class counts the same, however rare.",
    ),
    _classification(
        "top_3_accuracy",
        "Top-3 accuracy",
        mf.top_k_accuracy(3),
        MeanOfRows(mf.top_k_hits(3)),
        "The share of rows whose true class is among the 3 most probable; of equal probabilities the "
        "class later in the class list counts first (scikit-learn's order). Needs more than 3 classes.",
        needs_proba=True,
        min_classes=4,
    ),
    _classification(
        "top_5_accuracy",
        "Top-5 accuracy",
        mf.top_k_accuracy(5),
        MeanOfRows(mf.top_k_hits(5)),
        "The share of rows whose true class is among the 5 most probable; of equal probabilities the "
        "class later in the class list counts first (scikit-learn's order). Needs more than 5 classes.",
        needs_proba=True,
        min_classes=6,
    ),
    _classification(
        "f1",
        "F1 (binary)",
        mf.binary_f1,
        PerResample(mf.binary_f1_per_resample),
        f"The harmonic mean of the positive class's precision and recall. {_POSITIVE}; a "
        "probability file's row is positive at a probability of at least 0.5. 0 when nothing is "
        "predicted positive and nothing is positive.",
        **_AT_THRESHOLD,
    ),
    _classification(
        "macro_f1",
        "Macro F1",
        macro_f1,
        PerResample(_macro_f1_per_resample),
        "The unweighted mean of the F1 of each class seen in the answer key or the predictions.",
    ),
    _classification(
        "micro_f1",
        "Micro F1",
        accuracy,
        MeanOfRows(_hits),
        "F1 from the true and false positives summed over the classes; with one class per row it "
        "equals accuracy.",
    ),
    _classification(
        "weighted_f1",
        "Weighted F1",
        mf.weighted_f1,
        PerResample(mf.weighted_f1_per_resample),
        "The mean of the F1 of each class weighted by its number of rows in the answer key.",
    ),
    _classification(
        "precision",
        "Precision (binary)",
        mf.precision,
        PerResample(mf.precision_per_resample),
        f"The share of rows predicted positive that are positive. {_POSITIVE}; a probability file's "
        "row is positive at a probability of at least 0.5. 0 when nothing is predicted positive.",
        **_AT_THRESHOLD,
    ),
    _classification(
        "recall",
        "Recall (binary)",
        mf.recall,
        PerResample(mf.recall_per_resample),
        f"The share of positive rows predicted positive. {_POSITIVE}; a probability file's row is "
        "positive at a probability of at least 0.5.",
        **_AT_THRESHOLD,
    ),
    _classification(
        "log_loss",
        "Log loss",
        log_loss,
        MeanOfRows(_log_losses),
        "The mean negative log of the probability given to the true class. Each row is divided by "
        "its sum, and probabilities are clipped to [2.2e-16, 1 - 2.2e-16] so that a 0 costs a "
        "large but finite amount.",
        higher_is_better=False,
        needs_proba=True,
    ),
    _classification(
        "roc_auc",
        "ROC AUC (binary, or one-vs-rest macro)",
        roc_auc,
        AucFromCounts(),
        "The area under the ROC curve of the positive class (the second class) for two classes; "
        "for more, the mean of each class's one-vs-rest area. Equal scores count half.",
        needs_proba=True,
    ),
    _classification(
        "average_precision",
        "Average precision (binary)",
        mf.average_precision,
        mf.AveragePrecisionFromCounts(),
        f"The area under the precision-recall curve as a step sum over the distinct scores of the "
        f"positive class, highest first. {_POSITIVE}.",
        needs_proba=True,
        **_BINARY,
    ),
    _classification(
        "matthews_corrcoef",
        "Matthews correlation",
        mf.matthews_corrcoef,
        PerResample(mf.matthews_per_resample),
        "The correlation between true and predicted classes from the confusion matrix (multiclass "
        "by Gorodkin's formula), from -1 to 1; 0 when either side is a single class.",
    ),
    _classification(
        "quadratic_kappa",
        "Cohen's kappa (quadratic weights)",
        mf.quadratic_kappa,
        PerResample(mf.quadratic_kappa_per_resample),
        "Agreement beyond chance for ordered classes, a disagreement weighted by the squared "
        "distance between the classes' positions in the class list.",
    ),
    _regression(
        "rmse",
        "Root mean squared error",
        rmse,
        MeanOfRows(_squared_errors, finish=np.sqrt),
        "The square root of the mean squared difference between prediction and target.",
    ),
    _regression(
        "mae",
        "Mean absolute error",
        mae,
        MeanOfRows(_absolute_errors),
        "The mean absolute difference between prediction and target.",
    ),
    _regression(
        "rmsle",
        "Root mean squared log error",
        mf.rmsle,
        MeanOfRows(mf.squared_log_errors, finish=np.sqrt),
        "RMSE of log(1 + value): relative errors, for targets that span orders of magnitude. "
        "Targets and predictions must be greater than -1.",
        values_above=-1.0,
    ),
    _regression(
        "r2",
        "R²",
        r2,
        PerResample(_r2_per_resample),
        "1 - (squared error) / (variance of the targets). With constant targets: 1 for a perfect "
        "prediction, else 0 (scikit-learn's convention).",
        higher_is_better=True,
    ),
    _regression(
        "mape",
        "Mean absolute percentage error",
        mf.mape,
        MeanOfRows(mf.percentage_errors),
        "The mean of |prediction - target| / |target|, as a fraction (0.1 is 10%); a target of 0 "
        "divides by 2.2e-16, as scikit-learn does, so such rows dominate.",
    ),
    _regression(
        "pearson",
        "Pearson correlation",
        mf.pearson,
        PerResample(mf.pearson_per_resample),
        "The linear correlation between predictions and targets, from -1 to 1; undefined (no "
        "score) when the predictions are constant.",
        higher_is_better=True,
    ),
    _regression(
        "spearman",
        "Spearman correlation",
        mf.spearman,
        mf.SpearmanFromCounts(),
        "The Pearson correlation of the ranks (equal values share their mean rank), from -1 to 1; "
        "undefined (no score) when the predictions are constant.",
        higher_is_better=True,
    ),
]


def _registry() -> dict[str, Metric]:
    from datasets.metric_plugins import load_plugins

    registry = {m.name: m for m in BUILT_IN}
    for metric in load_plugins(metric_type=Metric, taken=set(registry)):
        registry[metric.name] = metric
    return registry


METRICS: dict[str, Metric] = _registry()


def metric_problems(metric: Metric, *, n_classes: int | None, task_type: str) -> str | None:
    """Why a dataset of this task type and class count cannot be scored by `metric`, or None."""
    if metric.task_type != task_type:
        return f"metric {metric.name!r} is for {metric.task_type}, the dataset is {task_type}"
    return metric.classes_problem(n_classes)


def metrics_for(task_type: str) -> list[str]:
    return [name for name, m in METRICS.items() if m.task_type == task_type]


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}") from None

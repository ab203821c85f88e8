"""Every metric equals scikit-learn's to 1e-9 on random inputs, ties and edge cases."""

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from datasets.metrics import METRICS, auc_binary, get_metric, metrics_for

SEEDS = range(12)


def labels(rng, n, k, skew=False):
    p = rng.dirichlet(np.ones(k) * (0.3 if skew else 5))
    return rng.choice(k, size=n, p=p).astype(np.int64)


def proba(rng, n, k, ties=False):
    p = rng.dirichlet(np.ones(k), size=n)
    if ties:  # coarse values make many equal scores
        p = np.round(p * 4) + 1e-3
        p = p / p.sum(axis=1, keepdims=True)
    return p


def close(a, b):
    assert abs(a - b) <= 1e-9, (a, b)


def test_registry_directions_and_kinds():
    assert {"accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc", "rmse", "mae", "r2"} < set(
        METRICS
    )
    assert [m for m in METRICS if not METRICS[m].higher_is_better] == [
        "log_loss",
        "rmse",
        "mae",
        "rmsle",
        "mape",
    ]
    assert [m for m in METRICS if METRICS[m].needs_proba] == [
        "top_3_accuracy",
        "top_5_accuracy",
        "log_loss",
        "roc_auc",
        "average_precision",
    ]
    assert metrics_for("regression") == ["rmse", "mae", "rmsle", "r2", "mape", "pearson", "spearman"]
    assert METRICS["rmse"].better(1.0, 2.0) and METRICS["accuracy"].better(2.0, 1.0)
    with pytest.raises(ValueError, match="unknown metric 'f2'; choose one of accuracy"):
        get_metric("f2")


@pytest.mark.parametrize("seed", SEEDS)
def test_label_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 400)), int(rng.integers(2, 12))
    y, p = labels(rng, n, k, skew=seed % 2 == 0), labels(rng, n, k)
    if seed % 3 == 0:  # mostly right, so not only chance-level inputs
        p = np.where(rng.random(n) < 0.8, y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        close(METRICS["accuracy"](y, p, k), skm.accuracy_score(y, p))
        close(METRICS["balanced_accuracy"](y, p, k), skm.balanced_accuracy_score(y, p))
        close(METRICS["macro_f1"](y, p, k), skm.f1_score(y, p, average="macro"))


def test_label_metric_edge_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y, p in [
            ([0], [0]),
            ([0], [1]),
            ([1, 1, 1], [1, 1, 1]),
            ([0, 0, 2], [3, 3, 3]),
            ([2, 2], [0, 1]),
        ]:
            y, p = np.array(y), np.array(p)
            close(METRICS["accuracy"](y, p, 4), skm.accuracy_score(y, p))
            close(METRICS["balanced_accuracy"](y, p, 4), skm.balanced_accuracy_score(y, p))
            close(METRICS["macro_f1"](y, p, 4), skm.f1_score(y, p, average="macro"))


@pytest.mark.parametrize("seed", SEEDS)
def test_log_loss_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 300)), int(rng.integers(2, 8))
    y, p = labels(rng, n, k), proba(rng, n, k, ties=seed % 2 == 1)
    if seed % 3 == 0:  # hard zeros and ones are clipped like scikit-learn does
        hard = np.eye(k)[labels(rng, n, k)]
        p = np.where(rng.random((n, 1)) < 0.3, hard, p)
    close(METRICS["log_loss"](y, p, k), skm.log_loss(y, p, labels=list(range(k))))


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_matches_sklearn_binary_and_ovr(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 500))
    k = 2 if seed % 2 == 0 else int(rng.integers(3, 7))
    y = labels(rng, n, k)
    while len(np.unique(y)) < k:
        y = labels(rng, n, k)
    p = proba(rng, n, k, ties=seed % 4 in (0, 1))
    ours = METRICS["roc_auc"](y, p, k)
    if k == 2:
        theirs = skm.roc_auc_score(y, p[:, 1])
    else:
        theirs = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(k)))
    close(ours, theirs)


def test_auc_with_all_scores_tied_and_perfect_ranking():
    y = np.array([0, 1, 0, 1, 1])
    close(auc_binary(y == 1, np.full(5, 0.5)), skm.roc_auc_score(y, np.full(5, 0.5)))
    close(auc_binary(y == 1, y.astype(float)), 1.0)
    close(auc_binary(y == 1, -y.astype(float)), 0.0)
    assert np.isnan(auc_binary(np.zeros(3, bool), np.arange(3.0)))


def test_roc_auc_leaves_out_a_class_without_positives():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array(
        [[0.6, 0.3, 0.1], [0.5, 0.2, 0.3], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3], [0.7, 0.2, 0.1], [0.2, 0.5, 0.3]]
    )
    expected = np.mean([skm.roc_auc_score(y == 0, p[:, 0]), skm.roc_auc_score(y == 1, p[:, 1])])
    close(METRICS["roc_auc"](y, p, 3), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 500))
    y = rng.normal(50, 20, n)
    p = y + rng.normal(0, 10 * (seed + 1), n)
    if seed % 4 == 0:
        p = np.round(p)
    close(METRICS["rmse"](y, p), skm.root_mean_squared_error(y, p))
    close(METRICS["mae"](y, p), skm.mean_absolute_error(y, p))
    close(METRICS["r2"](y, p), skm.r2_score(y, p))


def test_r2_edge_cases_follow_sklearn():
    for y, p in [([3, 3, 3], [3, 3, 3]), ([3, 3, 3], [1, 2, 3]), ([1, 2], [2, 1])]:
        y, p = np.array(y, float), np.array(p, float)
        close(METRICS["r2"](y, p), skm.r2_score(y, p))
    assert np.isnan(METRICS["r2"](np.array([1.0]), np.array([1.0])))


def _inputs(metric, rng, n, k):
    """Plausible targets and predictions for `metric`: rare classes (of more than two) and equal scores."""
    if metric.task_type == "regression":
        y = rng.normal(50, 20, n)
        p = np.round(y + rng.normal(0, 10, n))
        if metric.values_above is not None:
            y, p = np.abs(y), np.abs(p)
        return y, p, None
    y = labels(rng, n, k, skew=k > 2)
    if metric.needs_proba:
        return y, proba(rng, n, k, ties=True), k
    return y, np.where(rng.random(n) < 0.6, y, labels(rng, n, k)), k


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize("k", [2, 5])
def test_every_metric_resamples_to_its_own_value(name, k):
    """The bootstrap computes each metric through its `resampling`, never by name: every
    registered metric's resampled form equals the metric on each resample, drawn rows and
    the identity draw alike (a new metric with a wrong or missing form fails here)."""
    metric = METRICS[name]
    rng = np.random.default_rng(k)
    n = 80
    y, p, n_classes = _inputs(metric, rng, n, k)
    draws = np.vstack([np.arange(n), rng.integers(0, n, size=(30, n))]).astype(np.int32)
    resampled = metric.resampling.bind(y, p, n_classes)(draws)
    assert resampled.shape == (draws.shape[0],)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.array([metric(y[d], p[d], n_classes) for d in draws])
    assert np.isfinite(expected[0])  # the identity draw is the metric of all the rows
    np.testing.assert_allclose(resampled, expected, rtol=0, atol=1e-9, equal_nan=True)

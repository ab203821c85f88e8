"""The metric library against scikit-learn and SciPy: 1,000 drawn cases per metric, ties
and degenerate inputs included, and each bootstrap form equal to its metric."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from datasets.metrics import BUILT_IN, METRICS, get_metric, metric_problems

CASES = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def close(ours, theirs, tol=1e-9):
    if np.isnan(theirs):
        assert np.isnan(ours), (ours, theirs)
    elif np.isinf(theirs):
        assert ours == theirs, (ours, theirs)
    else:
        assert abs(ours - theirs) <= tol * max(1.0, abs(theirs)), (ours, theirs)


def quiet():
    w = warnings.catch_warnings()
    w.__enter__()
    warnings.simplefilter("ignore")
    return w


@st.composite
def label_pairs(draw, max_classes=8):
    k = draw(st.integers(2, max_classes))
    n = draw(st.integers(1, 60))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    # Predictions: drawn freely, or the truth with some rows changed (not only chance level).
    if draw(st.booleans()):
        p = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    else:
        flips = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
        keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        p = np.where(keep, y, flips).astype(np.int64)
    return k, y, p


@st.composite
def proba_cases(draw, min_classes=2, max_classes=8):
    k = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, 60))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    # Coarse levels make equal probabilities (ties) common; zeros included.
    levels = draw(st.sampled_from([3, 10, 1000]))
    raw = np.array(
        draw(st.lists(st.integers(0, levels), min_size=n * k, max_size=n * k)), dtype=np.float64
    ).reshape(n, k)
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    return k, y, raw / raw.sum(axis=1, keepdims=True)


@st.composite
def regression_pairs(draw, low=-1000, high=1000):
    n = draw(st.integers(1, 60))
    # Values on a grid of hundredths: ties and constant columns come up often.
    grid = st.integers(low * 100, high * 100).map(lambda v: v / 100)
    small = st.integers(-3, 3).map(float)
    values = draw(st.sampled_from([grid, small]))
    y = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    p = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    return y, p


@CASES
@given(label_pairs())
def test_label_metrics_match_sklearn(case):
    k, y, p = case
    labels = np.arange(k)
    w = quiet()
    try:
        close(METRICS["accuracy"](y, p, k), skm.accuracy_score(y, p))
        close(METRICS["balanced_accuracy"](y, p, k), skm.balanced_accuracy_score(y, p))
        close(METRICS["macro_f1"](y, p, k), skm.f1_score(y, p, average="macro"))
        close(METRICS["micro_f1"](y, p, k), skm.f1_score(y, p, average="micro"))
        close(METRICS["weighted_f1"](y, p, k), skm.f1_score(y, p, average="weighted"))
        close(METRICS["matthews_corrcoef"](y, p, k), skm.matthews_corrcoef(y, p))
        close(
            METRICS["quadratic_kappa"](y, p, k),
            skm.cohen_kappa_score(y, p, labels=labels, weights="quadratic"),
        )
    finally:
        w.__exit__(None, None, None)


@CASES
@given(label_pairs(max_classes=2))
def test_binary_label_metrics_match_sklearn(case):
    _, y, p = case
    w = quiet()
    try:
        close(METRICS["f1"](y, p, 2), skm.f1_score(y, p, labels=[0, 1], pos_label=1, zero_division=0))
        close(
            METRICS["precision"](y, p, 2),
            skm.precision_score(y, p, labels=[0, 1], pos_label=1, zero_division=0),
        )
        close(METRICS["recall"](y, p, 2), skm.recall_score(y, p, labels=[0, 1], pos_label=1, zero_division=0))
    finally:
        w.__exit__(None, None, None)


@CASES
@given(proba_cases())
def test_probability_metrics_match_sklearn(case):
    k, y, proba = case
    labels = np.arange(k)
    w = quiet()
    try:
        close(METRICS["log_loss"](y, proba, k), skm.log_loss(y, proba, labels=labels))
        for name, top in (("top_3_accuracy", 3), ("top_5_accuracy", 5)):
            if k > top:
                close(METRICS[name](y, proba, k), skm.top_k_accuracy_score(y, proba, k=top, labels=labels))
        if k == 2:
            expected_auc = skm.roc_auc_score(y, proba[:, 1]) if len(set(y)) == 2 else float("nan")
            close(METRICS["roc_auc"](y, proba, k), expected_auc)
            if (y == 1).any():
                close(METRICS["average_precision"](y, proba, k), skm.average_precision_score(y, proba[:, 1]))
            else:
                assert np.isnan(METRICS["average_precision"](y, proba, k))
        elif len(set(y)) == k:
            close(
                METRICS["roc_auc"](y, proba, k),
                skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels),
            )
    finally:
        w.__exit__(None, None, None)


@CASES
@given(regression_pairs())
def test_regression_metrics_match_sklearn_and_scipy(case):
    y, p = case
    w = quiet()
    try:
        close(METRICS["rmse"](y, p), skm.root_mean_squared_error(y, p))
        close(METRICS["mae"](y, p), skm.mean_absolute_error(y, p))
        close(METRICS["mape"](y, p), skm.mean_absolute_percentage_error(y, p), tol=1e-12)
        if y.shape[0] >= 2:
            close(METRICS["r2"](y, p), skm.r2_score(y, p))
            constant = (y == y[0]).all() or (p == p[0]).all()
            expected_r = float("nan") if constant else stats.pearsonr(y, p).statistic
            close(METRICS["pearson"](y, p), expected_r, tol=1e-9)
            expected_rho = float("nan") if constant else stats.spearmanr(y, p).statistic
            close(METRICS["spearman"](y, p), expected_rho, tol=1e-9)
    finally:
        w.__exit__(None, None, None)


@CASES
@given(regression_pairs(low=0, high=100000))
def test_rmsle_matches_sklearn(case):
    y, p = np.abs(case[0]), np.abs(case[1])
    close(METRICS["rmsle"](y, p), skm.root_mean_squared_log_error(y, p))


def test_degenerate_inputs_have_documented_values():
    one = np.array([1, 1, 1])
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    # One class only: the ranking metrics are undefined (no score).
    assert np.isnan(METRICS["roc_auc"](one, proba, 2))
    assert np.isnan(METRICS["average_precision"](np.zeros(3, dtype=np.int64), proba, 2))
    # A constant side: correlation undefined, Matthews 0, kappa undefined when both agree.
    assert np.isnan(METRICS["pearson"](np.array([1.0, 2.0]), np.array([3.0, 3.0])))
    assert np.isnan(METRICS["spearman"](np.array([1.0, 1.0]), np.array([3.0, 4.0])))
    assert METRICS["matthews_corrcoef"](one, one, 2) == 0.0
    assert np.isnan(METRICS["quadratic_kappa"](one, one, 2))
    # Nothing predicted positive: precision and F1 are 0.
    assert METRICS["precision"](one, np.zeros(3, dtype=np.int64), 2) == 0.0
    assert METRICS["f1"](np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), 2) == 0.0


def test_every_metric_declares_what_it_accepts():
    for m in BUILT_IN:
        assert m.description and m.interval.startswith("95% percentile bootstrap")
        assert m.source == "built-in"
        assert m.prediction_kinds
    assert get_metric("f1").prediction_kinds == ("label", "proba")
    assert get_metric("roc_auc").prediction_kinds == ("proba",)
    assert get_metric("spearman").prediction_kinds == ("value",)
    assert metric_problems(get_metric("f1"), n_classes=3, task_type="classification") == (
        "metric 'f1' needs exactly 2 classes; the dataset has 3"
    )
    assert metric_problems(get_metric("top_5_accuracy"), n_classes=4, task_type="classification") == (
        "metric 'top_5_accuracy' needs at least 6 classes; the dataset has 4"
    )
    assert "is for regression" in metric_problems(get_metric("mape"), n_classes=2, task_type="classification")


def test_label_metrics_read_probability_files():
    proba = np.array([[0.5, 0.5], [0.7, 0.3], [0.2, 0.8]])
    # Binary metrics: positive at a probability of at least 0.5; others: the most probable class.
    assert get_metric("f1").input_of(proba, "proba").tolist() == [1, 0, 1]
    assert get_metric("accuracy").input_of(proba, "proba").tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="cannot score label predictions"):
        get_metric("log_loss").input_of(np.array([0, 1]), "label")


def _resampled_equals_direct(metric, y, p, k, seed):
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, y.shape[0], size=(7, y.shape[0]))
    of = metric.resampling.bind(y, p, k)
    direct = [metric(y[d], p[d], k) for d in draws]
    for a, b in zip(of(draws), direct, strict=True):
        close(float(a), b)


@settings(max_examples=150, deadline=None)
@given(label_pairs(max_classes=2), st.integers(0, 10**6))
def test_bootstrap_forms_equal_binary_metrics(case, seed):
    k, y, p = case
    for name in ("f1", "precision", "recall", "matthews_corrcoef", "quadratic_kappa", "weighted_f1"):
        _resampled_equals_direct(METRICS[name], y, p, k, seed)


@settings(max_examples=150, deadline=None)
@given(label_pairs(), st.integers(0, 10**6))
def test_bootstrap_forms_equal_label_metrics(case, seed):
    k, y, p = case
    for name in ("weighted_f1", "matthews_corrcoef", "quadratic_kappa", "micro_f1"):
        _resampled_equals_direct(METRICS[name], y, p, k, seed)


@settings(max_examples=150, deadline=None)
@given(proba_cases(min_classes=2, max_classes=2), st.integers(0, 10**6))
def test_bootstrap_form_equals_average_precision(case, seed):
    k, y, proba = case
    _resampled_equals_direct(METRICS["average_precision"], y, proba, k, seed)


@settings(max_examples=150, deadline=None)
@given(proba_cases(min_classes=6, max_classes=9), st.integers(0, 10**6))
def test_bootstrap_forms_equal_top_k(case, seed):
    k, y, proba = case
    for name in ("top_3_accuracy", "top_5_accuracy"):
        _resampled_equals_direct(METRICS[name], y, proba, k, seed)


@settings(max_examples=150, deadline=None)
@given(regression_pairs(low=0, high=1000), st.integers(0, 10**6))
def test_bootstrap_forms_equal_regression_metrics(case, seed):
    y, p = np.abs(case[0]), np.abs(case[1])
    for name in ("rmsle", "mape", "pearson", "spearman"):
        _resampled_equals_direct(METRICS[name], y, p, None, seed)

"""The classical baselines on built-in data, scored on the hidden test rows."""

from __future__ import annotations

import pytest

from datasets.baselines import baseline_score, feature_baseline
from datasets.catalog import build


def test_pixel_classifiers_score_the_digits_test_rows():
    digits = build("digits")
    for name in ("logistic_regression", "svc_rbf", "random_forest"):
        score = feature_baseline(digits, name, seed=1)
        assert 0.9 < score <= 1.0, name


def test_a_baseline_is_scored_with_the_studys_metric():
    hard = build("hard-classification")
    accuracy = baseline_score(hard, "logistic_regression", metric="accuracy")
    macro_f1 = baseline_score(hard, "logistic_regression", metric="macro_f1")
    assert 0.25 < macro_f1 < 1 and 0.25 < accuracy < 1
    assert macro_f1 != accuracy


def test_the_random_forest_draws_from_the_seed():
    digits = build("digits")
    scores = {feature_baseline(digits, "random_forest", seed=s) for s in range(3)}
    assert len(scores) > 1


def test_an_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="unknown baseline 'xgboost'"):
        feature_baseline(build("digits"), "xgboost")

"""bootstrap_ci_many gives each entry exactly the interval bootstrap_ci gives it with the same
seed, for every metric, with and without the row cap's rescaling."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.answer_key import AnswerKey
from datasets.formats import prediction_kind
from datasets.metrics import METRICS
from datasets.predictions import Predictions
from datasets.scoring import bootstrap_ci, bootstrap_ci_many


def _key(task_type: str, n: int, rng, n_classes: int = 3) -> AnswerKey:
    ids = np.array([str(i) for i in range(n)], dtype=object)
    public = rng.random(n) < 0.4
    if task_type == "classification":
        classes = [chr(ord("a") + i) for i in range(n_classes)]
        return AnswerKey(ids, rng.integers(0, n_classes, n), public, task_type, classes)
    # Positive targets and predictions: every regression metric is defined on them (RMSLE's
    # logs need values above -1).
    return AnswerKey(ids, rng.uniform(1, 20, n), public, task_type, None)


def _classes_for(metric) -> int:
    # Top-k accuracy over k or fewer classes is 1 for every entry: give it more classes.
    return 8 if metric.name.startswith("top_") else 3


def _predictions(key: AnswerKey, metric, rng) -> Predictions:
    kind = prediction_kind(metric)
    n = len(key)
    k = key.n_classes or 3
    if kind == "proba":
        raw = rng.random((n, k)) + 0.05
        values = raw / raw.sum(axis=1, keepdims=True)
    elif kind == "label":
        values = np.where(rng.random(n) < 0.6, key.targets, rng.integers(0, k, n))
    else:
        values = np.abs(key.targets + rng.normal(0, 2, n))
    return Predictions(values=values, kind=kind, metric=metric.name)


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("max_rows", [10_000, 150])
def test_many_equals_one_by_one(name, max_rows):
    metric = METRICS[name]
    rng = np.random.default_rng(len(name))
    key = _key(metric.task_type, 600, rng, _classes_for(metric))
    entries = [_predictions(key, metric, rng) for _ in range(4)]
    many = bootstrap_ci_many(key, entries, name, n=200, seed=7, max_rows=max_rows)
    for predictions, interval in zip(entries, many, strict=True):
        one = bootstrap_ci(key, predictions, name, n=200, seed=7, max_rows=max_rows)
        assert interval == pytest.approx(one, rel=1e-12, abs=1e-12)
    # Different entries get different intervals: the draws are shared, not the answers.
    assert len(set(many)) > 1


def test_no_entries_and_an_empty_public_split():
    rng = np.random.default_rng(0)
    key = _key("classification", 50, rng)
    assert bootstrap_ci_many(key, [], "accuracy") == []
    key.public[:] = False
    key._lookup.clear()
    low, high = bootstrap_ci_many(key, [_predictions(key, METRICS["accuracy"], rng)], "accuracy")[0]
    assert np.isnan(low) and np.isnan(high)

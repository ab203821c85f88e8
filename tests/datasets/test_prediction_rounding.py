"""Probability files as people write them (rounded rows), normalised; value bounds of metrics."""

import numpy as np
import pytest
from sklearn import metrics as skm

from datasets import catalog
from datasets.answer_key import make_answer_key
from datasets.predictions import PredictionError, parse_predictions
from datasets.scoring import score, score_metrics


@pytest.fixture(scope="module")
def digits():
    b = catalog.build("digits")
    return b, make_answer_key(b.files["test_labels.csv"], b.manifest, seed=1, public_fraction=0.5)


def _proba_file(key, classes, p, decimals):
    lines = [",".join(["id", *classes])]
    lines += [",".join([key.ids[i], *(f"{v:.{decimals}f}" for v in p[i])]) for i in range(len(key))]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("decimals", [6, 4, 3])
def test_rows_rounded_to_a_few_decimals_pass_and_are_normalised(digits, fast, decimals):
    b, key = digits
    rng = np.random.default_rng(decimals)
    p = rng.dirichlet(np.ones(10) * 0.3, len(key))
    data = _proba_file(key, b.manifest["classes"], p, decimals)
    sums = np.round(p, decimals).sum(axis=1)
    assert (sums != 1.0).any()  # the file really has rows that do not sum to 1
    preds = parse_predictions(data, answer_key=key, manifest=b.manifest, metric="log_loss", _fast=fast)
    np.testing.assert_allclose(preds.values.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    public, private = score(key, preds, "log_loss")
    written = np.round(p, decimals)
    normalised = written / written.sum(axis=1, keepdims=True)
    expected = skm.log_loss(key.targets[key.public], normalised[key.public], labels=np.arange(10))
    assert public == pytest.approx(expected, abs=1e-9)


def test_a_row_far_from_one_is_refused_with_the_rule(digits):
    b, key = digits
    p = np.full((len(key), 10), 0.1)
    p[3] = 0.098  # sums to 0.98
    data = _proba_file(key, b.manifest["classes"], p, 6)
    with pytest.raises(PredictionError) as info:
        parse_predictions(data, answer_key=key, manifest=b.manifest, metric="log_loss")
    assert [str(x) for x in info.value.problems] == [
        f"row 5, id '{key.ids[3]}': the probabilities sum to 0.98; they must sum to 1 "
        "(within 0.01: each row is divided by its sum)"
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_a_metric_of_the_competition_bounds_the_values(fast):
    b = catalog.build("diabetes")
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    rows = [f"{i},{100 + j}" for j, i in enumerate(key.ids)]
    rows[4] = f"{key.ids[4]},-1"
    data = ("id,target\n" + "\n".join(rows) + "\n").encode() * 1
    kw = dict(answer_key=key, manifest=b.manifest, metric="rmse", _fast=fast)
    assert parse_predictions(data, **kw).values[4] == -1.0  # RMSE alone takes any finite value
    with pytest.raises(PredictionError) as info:
        parse_predictions(data, other_metrics=("rmsle",), **kw)
    assert [str(x) for x in info.value.problems] == [
        f"row 6, column 'target', id '{key.ids[4]}': -1 is not greater than -1, which metric 'rmsle' needs"
    ]


def test_label_metrics_score_a_probability_file(digits):
    b, key = digits
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), len(key))
    data = _proba_file(key, b.manifest["classes"], p, 17)
    preds = parse_predictions(data, answer_key=key, manifest=b.manifest, metric="log_loss")
    scores = score_metrics(key, preds, ["accuracy", "macro_f1"])
    labels = preds.values.argmax(axis=1)
    assert scores["accuracy"][0] == pytest.approx(
        skm.accuracy_score(key.targets[key.public], labels[key.public])
    )
    assert scores["macro_f1"][1] == pytest.approx(
        skm.f1_score(key.targets[~key.public], labels[~key.public], average="macro")
    )

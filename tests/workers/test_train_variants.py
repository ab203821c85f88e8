"""Training an entry of several models (`workers.training.variants`): a sweep keeps the variant
best on the validation rows, an ensemble averages its seeds; failed variants, the shared budget,
a cancel. CPU, one thread, iris and a few epochs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from common.protocol import Budget
from workers import training
from workers.data import load_dataset
from workers.spec import expand_variants, parse_config
from workers.training.result import BUDGET_EPOCHS, BUDGET_PARAMETERS, CANCELLED, TrainError, TrainResult
from workers.training.variants import choose, combine, train_entry

BASE = """\
version: 1
seed: 3
model:
  layers: [linear: {units: 16}, relu, dropout: 0.1, linear: {units: auto}]
train:
  epochs: 3
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""
SWEEP = BASE + "sweep: {grid: {lr: [0.0001, 0.05]}}\n"
ENSEMBLE = BASE.replace("  epochs: 3", "  epochs: 3\n  ensemble: {seeds: 2}")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def solo(variant, data):
    """The variant trained alone, as a plain entry."""
    return training.train(variant.config, data)


# --- a sweep ------------------------------------------------------------------------------


def test_a_sweep_trains_every_variant_and_keeps_the_best_on_validation(iris, tmp_path):
    config = parse_config(SWEEP)
    records = []
    result = train_entry(config, iris, on_epoch=records.append, out_dir=tmp_path)

    # Every variant reports its own epochs, numbered from 1, and says which it is (packed, the
    # variants' epochs interleave; each variant's come in order).
    seen = [(r["variant"], r["epoch"]) for r in records]
    assert sorted(seen) == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert [e for v, e in seen if v == 1] == [1, 2, 3]
    assert [(r["variant"], r["epoch"]) for r in result.history] == sorted(seen)
    assert result.epochs_run == 6

    report = result.variants
    assert report["kind"] == "sweep" and report["select"] == "metric"
    values = [o["val_metric"]["value"] for o in report["outcomes"]]
    assert [o["label"] for o in report["outcomes"]] == ["lr=0.0001", "lr=0.05"]
    # The choice is the best validation metric (accuracy: higher), and it is lr=0.05 on iris.
    assert report["kept"] == int(np.argmax(values)) == 1
    assert values[1] > values[0]

    # The entry predicts as its winner trained alone (within the packed engine's floating-point
    # reordering), and uploads the winner's weights.
    winner = expand_variants(config)[1]
    alone = solo(winner, iris)
    np.testing.assert_allclose(result.probabilities, alone.probabilities, rtol=0, atol=1e-5)
    assert list(result.predictions) == list(alone.predictions)
    with safe_open(result.weights_path, "pt") as f:
        assert sorted(f.keys()) == sorted(alone.state_dict)
        for name in f.keys():
            torch.testing.assert_close(f.get_tensor(name), alone.state_dict[name], rtol=0, atol=1e-5)
        assert json.loads(f.metadata()["config"]) == winner.config.model_dump(mode="json")
    assert result.notes[0].startswith(
        "the sweep trained 2 variants and kept variant 1 (lr=0.05), best on the validation rows: validation accuracy"
    )


def result_with(val_metric=None, val_loss=None, metric="accuracy", best_epoch=None) -> TrainResult:
    """A finished variant as the trainer returns it: its validation numbers and nothing of the test set."""
    return TrainResult(
        task_type="classification",
        metric=metric,
        classes=["a", "b"],
        test_ids=np.array(["t1", "t2"]),
        predictions=np.array(["a", "b"], dtype=object),
        probabilities=np.array([[0.6, 0.4], [0.3, 0.7]]),
        history=[
            {"epoch": 1, "phase": "train", "val_loss": 9.0},
            {"epoch": 2, "phase": "train", "val_loss": val_loss},
        ],
        val_metric=None if val_metric is None else {"name": metric, "value": val_metric},
        best_epoch=best_epoch,
        epochs_run=2,
    )


def test_the_choice_reads_the_validation_numbers_in_the_metrics_direction():
    results = {0: result_with(0.80), 1: result_with(0.95), 2: result_with(0.90)}
    assert choose(results, select="metric", higher_is_better=True) == 1
    assert choose(results, select="metric", higher_is_better=False) == 0  # an error metric: lowest wins
    # Ties go to the earlier variant; a variant without a number ranks last; none: no choice.
    assert choose({0: result_with(0.9), 1: result_with(0.9)}, select="metric", higher_is_better=True) == 0
    assert choose({0: result_with(None), 1: result_with(0.1)}, select="metric", higher_is_better=True) == 1
    assert choose({0: result_with(None)}, select="metric", higher_is_better=True) is None


def test_the_choice_by_validation_loss_takes_the_kept_epochs():
    results = {0: result_with(val_loss=0.5), 1: result_with(val_loss=0.3)}
    assert choose(results, select="val_loss", higher_is_better=True) == 1
    # With early stopping, the loss of the epoch the variant went back to (epoch 1 here).
    results = {0: result_with(val_loss=0.5), 1: result_with(val_loss=0.3, best_epoch=1)}
    assert choose(results, select="val_loss", higher_is_better=True) == 0


def test_a_failed_variant_is_left_out_of_the_sweep():
    config = parse_config(SWEEP)
    variants = expand_variants(config)
    result = combine(config, variants, [TrainError("the loss diverged at epoch 2"), result_with(0.7)])
    assert result.variants["kept"] == 1
    assert result.variants["outcomes"][0] == {
        "index": 0,
        "label": "lr=0.0001",
        "error": "the loss diverged at epoch 2",
    }
    assert result.notes[-1] == (
        "1 of 2 variants failed and were left out: 0 (lr=0.0001): the loss diverged at epoch 2"
    )
    with pytest.raises(TrainError, match=r"every variant of the sweep failed; lr=0.0001: the loss diverged"):
        combine(config, variants, [TrainError("the loss diverged"), TrainError("out of budget")])


# --- an ensemble ----------------------------------------------------------------------------


def test_an_ensemble_averages_probabilities_and_predicts_the_class_the_average_favours():
    config = parse_config(ENSEMBLE)
    variants = expand_variants(config)
    first, second = result_with(0.9), result_with(0.8)
    first.probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    second.probabilities = np.array([[0.3, 0.7], [0.4, 0.6]])
    result = combine(config, variants, [first, second])
    np.testing.assert_allclose(result.probabilities, [[0.6, 0.4], [0.3, 0.7]])
    # Row 1: the seeds disagree (a at 0.9, b at 0.7); the average favours a.
    assert list(result.predictions) == ["a", "b"]
    assert result.variants == {
        "kind": "ensemble",
        "select": "mean",
        "kept": None,
        "outcomes": [
            {
                "index": 0,
                "label": "seed 3",
                "stopped_reason": "completed",
                "epochs_run": 2,
                "val_metric": {"name": "accuracy", "value": 0.9},
                "val_loss": None,
            },
            {
                "index": 1,
                "label": "seed 4",
                "stopped_reason": "completed",
                "epochs_run": 2,
                "val_metric": {"name": "accuracy", "value": 0.8},
                "val_loss": None,
            },
        ],
    }
    assert result.val_metric is None  # the average has no validation score of its own
    assert result.epochs_run == 4


def test_an_ensemble_of_regressions_averages_the_values():
    config = parse_config(ENSEMBLE)
    first, second = result_with(), result_with()
    for r, values in ((first, [1.0, 4.0]), (second, [2.0, -1.0])):
        r.task_type, r.classes, r.probabilities, r.predictions = "regression", None, None, np.array(values)
    result = combine(config, expand_variants(config), [first, second])
    np.testing.assert_allclose(result.predictions, [1.5, 1.5])


def test_an_ensemble_averages_the_seeds_that_trained_and_fails_only_when_none_did():
    config = parse_config(ENSEMBLE)
    variants = expand_variants(config)
    alive = result_with(0.9)
    alive.probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    result = combine(config, variants, [TrainError("diverged"), alive])
    np.testing.assert_array_equal(result.probabilities, alive.probabilities)
    assert "1 of 2 variants failed and were left out: 0 (seed 3): diverged" in result.notes
    with pytest.raises(TrainError, match="every seed of the ensemble failed; seed 3: diverged"):
        combine(config, variants, [TrainError("diverged"), TrainError("diverged too")])


def test_an_ensemble_trained_end_to_end_is_the_mean_of_its_seeds_alone(iris, tmp_path):
    config = parse_config(ENSEMBLE)
    records = []
    result = train_entry(config, iris, on_epoch=records.append, out_dir=tmp_path)
    alone = [solo(v, iris) for v in expand_variants(config)]
    # Packed, each seed matches its solo run within floating-point reordering (the packed
    # engine's contract, docs/techniques.md).
    np.testing.assert_allclose(
        result.probabilities, np.mean([a.probabilities for a in alone], axis=0), rtol=0, atol=1e-5
    )
    assert sorted({r["variant"] for r in records}) == [0, 1]
    # The seeds held out the same rows: the same validation split, so comparable curves.
    with safe_open(result.weights_path, "pt") as f:
        assert json.loads(f.metadata()["ensemble_members"]) == [0, 1]
        assert json.loads(f.metadata()["config"])["train"]["ensemble"] == {"seeds": 2}
        for i, a in enumerate(alone):
            for name, tensor in a.state_dict.items():
                torch.testing.assert_close(f.get_tensor(f"variants.{i}.{name}"), tensor, rtol=0, atol=1e-5)
    assert result.n_parameters == 2 * alone[0].n_parameters


def test_variants_that_cannot_be_packed_train_one_after_another(iris):
    """Pre-training is not packed: each seed pre-trains and trains in turn, reporting both phases."""
    text = ENSEMBLE.replace("  epochs: 3", "  epochs: 1") + "pretrain: {dataset: iris, epochs: 1}\n"
    records = []
    result = train_entry(parse_config(text), iris, on_epoch=records.append, pretrain_data={"iris": iris})
    assert [(r["variant"], r["phase"]) for r in records] == [
        (0, "pretrain"),
        (0, "train"),
        (1, "pretrain"),
        (1, "train"),
    ]
    assert result.predictions is not None


# --- the budget, a cancel, the platform's errors ---------------------------------------------------


def test_the_trainer_refuses_variants_over_the_budget_before_training(iris):
    records = []
    with pytest.raises(training.BudgetExceeded) as caught:
        train_entry(parse_config(SWEEP), iris, budget=Budget(epochs=5), on_epoch=records.append)
    assert caught.value.reason == BUDGET_EPOCHS
    assert "the 2 variants train 6 epochs in all (2 × 3)" in str(caught.value)
    with pytest.raises(training.BudgetExceeded) as caught:
        train_entry(parse_config(ENSEMBLE), iris, budget=Budget(params=200), on_epoch=records.append)
    assert caught.value.reason == BUDGET_PARAMETERS
    assert records == []


def test_a_cancel_ends_the_entry_without_predictions(iris):
    result = train_entry(parse_config(SWEEP), iris, should_stop=lambda: True)
    assert result.stopped_reason == CANCELLED and result.predictions is None


def test_an_error_of_the_platform_ends_the_entry_as_it_would_a_single_run(iris):
    def lost(record):
        raise ConnectionError("the platform is unreachable")

    with pytest.raises(ConnectionError):
        train_entry(parse_config(ENSEMBLE), iris, on_epoch=lost)


def test_a_plain_config_trains_exactly_as_before(iris):
    config = parse_config(BASE)
    records = []
    entry = train_entry(config, iris, on_epoch=records.append)
    plain = training.train(config, iris)
    np.testing.assert_array_equal(entry.probabilities, plain.probabilities)
    assert entry.variants is None
    assert all("variant" not in r for r in records)

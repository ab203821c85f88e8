"""A claim's runs summed up: intervals over seeds, paired differences, the checks' verdicts."""

from __future__ import annotations

import math

import pytest

from podium.lab.claim_verdicts import RunOutcome, gradient_ratio, mean_interval, summarize_arms, verdict
from podium.lab.claims import Arm, Check, Claim, Quote


def _claim(checks, arms=("a", "b")) -> Claim:
    return Claim(
        slug="demo",
        title="Demo",
        quotes=(Quote("句子。", "A sentence."),),
        dataset="digits",
        pretrain_dataset="",
        seeds=3,
        plots=("loss",),
        arms=tuple(
            Arm(key=k, label=k.upper(), technique="x", config={"model": {}, "train": {}}) for k in arms
        ),
        checks=tuple(checks),
        source="demo.yaml",
    )


def _epochs(first: float, last: float, n: int = 2) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 2.0 / e,
            "val_metric": {"name": "accuracy", "value": 0.5 + e / 10},
            "grad_norms": {
                "layers.0.linear": first * e,
                "layers.10.linear": last * e,
                "layers.2.linear": 1.0,
            },
        }
        for e in range(1, n + 1)
    ]


def _outcomes(scores: dict[str, list[float]]) -> list[RunOutcome]:
    return [
        RunOutcome(
            arm=arm,
            seed=seed,
            score=s,
            params=100,
            multiply_adds=1000,
            seconds=2.0,
            epochs=_epochs(1e-6, 0.5),
        )
        for arm, values in scores.items()
        for seed, s in enumerate(values)
    ]


def test_mean_interval_is_students_t_over_seeds():
    mean, low, high = mean_interval([0.90, 0.92, 0.94])
    assert mean == pytest.approx(0.92)
    # sd 0.02, n 3: half-width t(0.975, 2) 4.3027 * 0.02 / sqrt(3)
    assert high - mean == pytest.approx(4.302653 * 0.02 / math.sqrt(3), rel=1e-5)
    assert mean - low == pytest.approx(high - mean)
    assert mean_interval([0.7]) == (0.7, 0.7, 0.7)


def test_beats_holds_only_beyond_the_seeds_noise():
    claim = _claim([Check("beats", "a", "b")])
    clear = summarize_arms(claim, _outcomes({"a": [0.95, 0.96, 0.97], "b": [0.10, 0.11, 0.12]}))
    decided = verdict(claim, clear)
    assert decided["reproduces"] is True and decided["why"] == ""
    assert decided["checks"][0]["holds"] is True
    assert "+85.0 points" in decided["checks"][0]["detail"]

    noisy = summarize_arms(claim, _outcomes({"a": [0.95, 0.90, 0.99], "b": [0.93, 0.94, 0.92]}))
    decided = verdict(claim, noisy)
    assert decided["reproduces"] is False
    assert decided["why"].startswith("Does not hold at this scale: A scores above B, beyond the seeds' noise")


def test_the_difference_is_paired_by_seed():
    # Seeds differ a lot, but a beats b by 1 point on every seed: paired, that is beyond noise.
    claim = _claim([Check("beats", "a", "b")])
    arms = summarize_arms(claim, _outcomes({"a": [0.61, 0.81, 0.96], "b": [0.60, 0.80, 0.95]}))
    assert verdict(claim, arms)["reproduces"] is True


def test_lower_is_better_metrics_flip_the_difference():
    claim = _claim([Check("beats", "a", "b")])
    arms = summarize_arms(claim, _outcomes({"a": [10.0, 10.5, 11.0], "b": [20.0, 21.0, 22.0]}))
    assert verdict(claim, arms, higher_is_better=False)["reproduces"] is True
    assert verdict(claim, arms, higher_is_better=True)["reproduces"] is False


def test_matches_allows_a_stated_tolerance():
    claim = _claim([Check("matches", "a", "b", value=0.02)])
    arms = summarize_arms(claim, _outcomes({"a": [0.970, 0.975, 0.972], "b": [0.975, 0.978, 0.976]}))
    assert verdict(claim, arms)["reproduces"] is True
    claim = _claim([Check("matches", "a", "b", value=0.001)])
    assert verdict(claim, arms)["reproduces"] is False


def test_cheaper_compares_parameters_and_multiply_adds():
    claim = _claim([Check("cheaper", "a", "b", value=0.5)])
    outcomes = _outcomes({"a": [0.9, 0.9, 0.9], "b": [0.9, 0.9, 0.9]})
    for o in outcomes:
        if o.arm == "b":
            o.params, o.multiply_adds = 400, 1500
    decided = verdict(claim, summarize_arms(claim, outcomes))
    # parameters 100 vs 400 pass, multiply-adds 1,000 vs 1,500 do not
    assert decided["reproduces"] is False
    assert "params 100 vs 400 (×0.25)" in decided["checks"][0]["detail"]
    assert "multiply-adds 1,000 vs 1,500 (×0.67)" in decided["checks"][0]["detail"]


def test_gradient_ratio_is_first_over_last_layer_in_the_first_epoch():
    assert gradient_ratio(_epochs(1e-6, 0.5)) == pytest.approx(2e-6)
    # With pre-training, the first epoch of the last phase (fine-tuning) counts.
    epochs = [dict(e, phase="pretrain") for e in _epochs(0.1, 0.1)] + [
        dict(e, epoch=e["epoch"] + 2, phase="train") for e in _epochs(0.3, 0.6)
    ]
    assert gradient_ratio(epochs) == pytest.approx(0.5)
    assert gradient_ratio([]) is None
    assert gradient_ratio([{"epoch": 1, "grad_norms": {"layers.0.linear": 1.0}}]) is None


def test_gradient_checks():
    claim = _claim([Check("gradients_vanish", "a", value=1e-3), Check("gradients_flow", "b", value=0.1)])
    outcomes = _outcomes({"a": [0.1, 0.1, 0.1]}) + [
        RunOutcome(arm="b", seed=s, score=0.9, epochs=_epochs(0.3, 0.6)) for s in range(3)
    ]
    arms = summarize_arms(claim, outcomes)
    assert arms[0]["gradient_ratio"] == pytest.approx(2e-6)
    assert arms[1]["gradient_ratio"] == pytest.approx(0.5)
    assert verdict(claim, arms)["reproduces"] is True


def test_a_failed_arm_leaves_the_claim_undecided_and_says_why():
    claim = _claim([Check("beats", "a", "b")])
    outcomes = _outcomes({"a": [0.9, 0.9, 0.9]}) + [
        RunOutcome(arm="b", seed=s, score=None, error="The training worker stopped responding")
        for s in range(3)
    ]
    arms = summarize_arms(claim, outcomes)
    assert arms[1]["n"] == 0 and arms[1]["mean"] is None
    assert arms[1]["failed"] == {"0": "The training worker stopped responding"} | {
        "1": "The training worker stopped responding",
        "2": "The training worker stopped responding",
    }
    decided = verdict(claim, arms)
    assert decided["reproduces"] is None
    assert "fewer than two seeds finished for both arms" in decided["why"]


def test_curves_are_averaged_over_seeds():
    claim = _claim([Check("beats", "a", "b")])
    outcomes = [
        RunOutcome(arm="a", seed=0, score=0.9, epochs=_epochs(1e-6, 0.5)),
        RunOutcome(arm="a", seed=1, score=0.9, epochs=_epochs(1e-4, 0.5)),
    ]
    curves = summarize_arms(claim, outcomes)[0]["curves"]
    assert curves["epochs"] == [1, 2]
    assert curves["train_loss"] == [1.0, 0.5]
    assert curves["val_metric"] == [pytest.approx(0.6), pytest.approx(0.7)]
    # layers in network order; norms by their geometric mean (1e-6 and 1e-4 give 1e-5)
    assert list(curves["grad_norms"]) == ["layers.0.linear", "layers.2.linear", "layers.10.linear"]
    assert curves["grad_norms"]["layers.0.linear"][0] == pytest.approx(1e-5)


def _diverged(arm: str, seeds) -> list[RunOutcome]:
    return [
        RunOutcome(
            arm=arm, seed=s, score=None, error="training diverged: the train loss is nan at epoch 3 (train)"
        )
        for s in seeds
    ]


def test_an_arm_that_diverges_where_the_other_trains_loses_the_comparison():
    claim = _claim([Check("beats", "a", "b")])
    # b diverged on every seed a trained: a beats it
    arms = summarize_arms(claim, _outcomes({"a": [0.6, 0.7, 0.65]}) + _diverged("b", range(3)))
    assert arms[1]["diverged"] == ["0", "1", "2"]
    decided = verdict(claim, arms)
    assert decided["reproduces"] is True
    assert decided["checks"][0]["detail"] == "B diverged on seeds 0, 1, 2"
    # a diverged on a seed b trained: it does not beat b, whatever its other scores
    arms = summarize_arms(claim, _outcomes({"a": [0.99, 0.99], "b": [0.1, 0.1, 0.1]}) + _diverged("a", [2]))
    decided = verdict(claim, arms)
    assert decided["reproduces"] is False
    assert "A diverged on seed 2" in decided["why"]


def test_divergence_beside_an_interval_is_said_and_the_interval_decides():
    claim = _claim([Check("beats", "a", "b")])
    outcomes = _outcomes({"a": [0.90, 0.91, 0.92], "b": [0.50, 0.52]}) + _diverged("b", [2])
    decided = verdict(claim, summarize_arms(claim, outcomes))
    assert decided["reproduces"] is True
    assert decided["checks"][0]["detail"].endswith("over 2 seeds; B diverged on seed 2")


def test_a_platform_failure_is_not_a_divergence():
    claim = _claim([Check("beats", "a", "b")])
    lost = [
        RunOutcome(arm="b", seed=s, score=None, error="The training worker stopped responding")
        for s in range(3)
    ]
    arms = summarize_arms(claim, _outcomes({"a": [0.6, 0.7, 0.65]}) + lost)
    assert arms[1]["diverged"] == []
    assert verdict(claim, arms)["reproduces"] is None

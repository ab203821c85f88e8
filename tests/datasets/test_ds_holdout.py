"""A lab run's held-out rows (datasets.holdout) and the paired difference of two runs on the
same rows (datasets.scoring.paired_difference_ci)."""

from __future__ import annotations

import numpy as np
import pytest

from datasets import catalog
from datasets.arrays import load_arrays
from datasets.holdout import every_test_row_key, holdout_answer_key, holdout_mask, holdout_row_ids
from datasets.predictions import Predictions
from datasets.scoring import bootstrap_ci, paired_difference_ci, score


def test_the_held_out_rows_are_seeded_stratified_and_the_same_from_either_side():
    bundle = catalog.build("iris")
    y = load_arrays(bundle.files, bundle.manifest).y_train
    mask = holdout_mask(y, fraction=0.2, seed=5, task_type="classification")
    assert np.array_equal(mask, holdout_mask(y, fraction=0.2, seed=5, task_type="classification"))
    assert not np.array_equal(mask, holdout_mask(y, fraction=0.2, seed=6, task_type="classification"))
    for c in np.unique(y):
        assert mask[y == c].sum() == round((y == c).sum() * 0.2)
    # The platform's key, read from train.csv's text, names the same rows with the same labels.
    key = holdout_answer_key(bundle.files["train.csv"], bundle.manifest, fraction=0.2, seed=5)
    assert list(key.ids) == list(holdout_row_ids(mask))
    assert np.array_equal(key.targets, y[mask]) and key.public.all()


def test_regression_rows_are_drawn_without_classes_and_bad_fractions_are_refused():
    y = np.linspace(0, 1, 50)
    mask = holdout_mask(y, fraction=0.3, seed=1, task_type="regression")
    assert mask.sum() == 15
    for fraction in (0.0, 0.01, 0.6):
        with pytest.raises(ValueError, match="fraction"):
            holdout_mask(y, fraction=fraction, seed=1, task_type="regression")
    with pytest.raises(ValueError, match="too few"):
        holdout_mask(np.array([0.5]), fraction=0.2, seed=1, task_type="regression")


def test_the_test_mode_key_scores_every_hidden_row():
    bundle = catalog.build("iris")
    key = every_test_row_key(bundle.files["test_labels.csv"], bundle.manifest)
    assert key.public.all() and len(key) == bundle.files["test_labels.csv"].decode().count("\n") - 1


def _labels(key, wrong: np.ndarray) -> Predictions:
    values = key.targets.copy()
    values[wrong] = (values[wrong] + 1) % key.n_classes
    return Predictions(values, "label", "accuracy")


def test_the_paired_difference_is_the_score_difference_with_a_tighter_interval():
    bundle = catalog.build("digits")
    key = holdout_answer_key(bundle.files["train.csv"], bundle.manifest, fraction=0.2, seed=3)
    rng = np.random.default_rng(0)
    n = len(key)
    base_wrong = rng.random(n) < 0.10
    # The variant gets every row the baseline gets wrong wrong too, and about 8% more.
    other_wrong = base_wrong | (rng.random(n) < 0.08)
    base, other = _labels(key, base_wrong), _labels(key, other_wrong)
    diff, low, high = paired_difference_ci(key, base, other, "accuracy", seed=9)
    assert diff == pytest.approx(score(key, other, "accuracy")[0] - score(key, base, "accuracy")[0])
    assert low <= diff <= high < 0
    # Unpaired, the two intervals overlap; paired, the difference excludes 0 with an interval
    # narrower than either score's.
    b_low, b_high = bootstrap_ci(key, base, "accuracy", seed=9)
    o_low, o_high = bootstrap_ci(key, other, "accuracy", seed=9)
    assert o_high > b_low and (high - low) < min(b_high - b_low, o_high - o_low)
    # The same predictions differ by nothing, and the interval says so.
    assert paired_difference_ci(key, base, base, "accuracy", seed=9) == (0.0, 0.0, 0.0)
    # Deterministic per seed.
    assert paired_difference_ci(key, base, other, "accuracy", seed=9) == (diff, low, high)


def test_the_paired_difference_above_the_row_cap_is_rescaled_like_the_interval():
    bundle = catalog.build("digits")
    key = holdout_answer_key(bundle.files["train.csv"], bundle.manifest, fraction=0.2, seed=3)
    rng = np.random.default_rng(1)
    base = _labels(key, rng.random(len(key)) < 0.2)
    other = _labels(key, rng.random(len(key)) < 0.1)
    full = paired_difference_ci(key, base, other, "accuracy", seed=2)
    capped = paired_difference_ci(key, base, other, "accuracy", seed=2, max_rows=len(key) // 2)
    assert capped[0] == full[0]
    assert capped[1] <= capped[0] <= capped[2]
    assert (capped[2] - capped[1]) == pytest.approx(full[2] - full[1], rel=0.35)

"""A lab run's data in holdout mode: the worker trains on the training rows less the seeded
held-out part, predicts those rows by row number, and never uses the test rows."""

from __future__ import annotations

import numpy as np
import pytest

from workers.data import DataError, holdout_data, load_dataset


def test_the_held_out_rows_become_the_rows_to_predict():
    data = load_dataset("iris")
    held = holdout_data(data, fraction=0.2, seed=4)
    rows = held.test_ids.astype(int)
    assert len(held.X_train) + len(held.X_test) == len(data.X_train)
    assert np.array_equal(held.X_test, data.X_train[rows])
    left = np.setdiff1d(np.arange(len(data.X_train)), rows)
    assert np.array_equal(held.X_train, data.X_train[left]) and np.array_equal(
        held.y_train, data.y_train[left]
    )
    assert held.test_labels is None and held.manifest is data.manifest


def test_a_fraction_out_of_bounds_is_a_data_error():
    with pytest.raises(DataError, match="fraction"):
        holdout_data(load_dataset("iris"), fraction=0.9, seed=1)

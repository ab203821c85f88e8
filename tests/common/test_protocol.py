"""The budget both tiers exchange, and JSON-safe epoch records."""

import json
import math

import numpy as np
import pytest

from common.protocol import Budget, json_safe


def test_budget_wire_shape_round_trips():
    budget = Budget.from_dict({"epochs": 30, "params": 200_000, "seconds": 600, "variants": 4})
    assert budget == Budget(epochs=30, params=200_000, seconds=600.0, variants=4)
    assert budget.as_dict() == {"epochs": 30, "params": 200_000, "seconds": 600.0, "variants": 4}
    assert Budget.from_dict(None) == Budget() == Budget.from_dict({})
    assert Budget().as_dict() == {"epochs": None, "params": None, "seconds": None, "variants": None}
    # A platform from before sweeps and ensembles sends no `variants`: no limit from it.
    assert Budget.from_dict({"epochs": 30, "params": 200_000, "seconds": 600}).variants is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"max_epochs": 3}, "unknown budget keys: max_epochs"),
        ({"epochs": 0}, "budget.epochs must be > 0"),
        ({"epochs": 2.5}, "budget.epochs must be a whole number"),
        ({"params": True}, "budget.params must be a number or null"),
        ({"seconds": "10"}, "budget.seconds must be a number or null"),
        ({"seconds": math.inf}, "budget.seconds must be > 0"),
        ({"variants": 0}, "budget.variants must be > 0"),
        ({"variants": 1.5}, "budget.variants must be a whole number"),
    ],
)
def test_budget_refuses_what_it_cannot_mean(data, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        Budget.from_dict(data)


def test_json_safe_turns_non_finite_numbers_into_null():
    record = {
        "train_loss": float("nan"),
        "lr": np.float32(0.5),
        "grad_norms": {"l1": float("inf")},
        "n": (1, 2),
    }
    safe = json_safe(record)
    assert safe == {"train_loss": None, "lr": 0.5, "grad_norms": {"l1": None}, "n": [1, 2]}
    json.dumps(safe, allow_nan=False)

"""An ablation's charts from its runs' epochs: loss per variant, gradient flow layer by layer
(variants lined up although one lacks a layer), the first-to-last gradient ratio per epoch."""

from __future__ import annotations

import json

from podium.web.charts import ablation_charts


def _epoch(n, loss, norms):
    return {"epoch": n, "train_loss": loss, "val_loss": loss * 1.1, "grad_norms": norms}


# jsonb hands the keys back sorted as text: "layers.10…" before "layers.2…".
BASELINE = {
    "variant": "original",
    "label": "original",
    "baseline": True,
    "epochs": [
        _epoch(1, 1.0, {"layers.10.linear": 1.0, "layers.0.linear": 0.5, "layers.2.batchnorm": 0.2}),
        _epoch(2, 0.5, {"layers.10.linear": 2.0, "layers.0.linear": 0.4, "layers.2.batchnorm": 0.1}),
    ],
}
NO_BATCHNORM = {
    "variant": "batchnorm:remove-all",
    "label": "batchnorm:remove-all",
    "epochs": [
        _epoch(1, 2.0, {"layers.9.linear": 1.0, "layers.0.linear": 1e-6}),
        _epoch(2, 1.9, {"layers.9.linear": 1.0, "layers.0.linear": 0.0}),
        _epoch(3, float("nan"), {"layers.9.linear": 1.0, "layers.0.linear": 1e-7}),
    ],
}


def test_no_epochs_yet_gives_no_charts():
    assert ablation_charts([]) is None
    assert ablation_charts([{"variant": "original", "epochs": []}]) is None


def test_loss_per_variant_in_its_own_colour_the_original_bold():
    charts = ablation_charts([BASELINE, NO_BATCHNORM])
    loss = charts["loss"]
    assert loss["labels"] == [1, 2, 3]
    by_label = {s["label"]: s for s in loss["series"]}
    assert by_label["original"]["data"] == [1.1, 0.55, None]  # the original ran 2 epochs
    assert by_label["original"]["bold"] and not by_label["batchnorm:remove-all"]["bold"]
    assert by_label["original (train)"]["dashed"]
    assert by_label["batchnorm:remove-all"]["color"] == 1 != by_label["original"]["color"]
    assert by_label["batchnorm:remove-all"]["data"][2] is None  # NaN breaks JSON: a gap
    json.dumps(charts, allow_nan=False)


def test_gradient_flow_lines_variants_up_by_layer_kind_input_side_first():
    flow = ablation_charts([BASELINE, NO_BATCHNORM])["flow"]
    assert flow["log"] is True
    # Model order, not jsonb's: layer 0, then 2, then 10. The variant without BatchNorm has
    # no point there, and its last linear (layers.9) lines up with the original's (layers.10).
    assert flow["labels"] == ["linear 1", "batchnorm 1", "linear 2"]
    original, ablated = flow["series"]
    assert original["data"] == [0.4, 0.1, 2.0]  # the last epoch's norms
    assert ablated["data"] == [1e-7, None, 1.0]


def test_first_to_last_gradient_ratio_per_epoch_with_gaps_for_zeros():
    ratio = ablation_charts([BASELINE, NO_BATCHNORM])["ratio"]
    original, ablated = ratio["series"]
    assert original["data"] == [0.5, 0.2, None]
    assert ablated["data"][0] == 1e-6
    assert ablated["data"][1] is None  # a zero norm cannot be drawn on a log axis

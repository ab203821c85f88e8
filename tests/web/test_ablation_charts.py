"""An ablation's charts from its runs' epochs: loss per variant, gradient flow layer by layer
(variants lined up although one lacks a layer), the first-to-last gradient ratio per epoch."""

from __future__ import annotations

import json

from podium.web.charts import ablation_charts

# As the API answers them (podium.lab.selectors.run_curves). jsonb hands the layers back in
# its own key order: "layers.10…" may come before "layers.2…".
BASELINE = {
    "epochs": [1, 2],
    "train_loss": [1.0, 0.5],
    "val_loss": [1.1, 0.55],
    "grad_norms": {
        "layers.10.linear": [1.0, 2.0],
        "layers.0.linear": [0.5, 0.4],
        "layers.2.batchnorm": [0.2, 0.1],
    },
}
NO_BATCHNORM = {
    "epochs": [1, 2, 3],
    "train_loss": [2.0, 1.9, None],
    "val_loss": [2.2, 2.1, float("nan")],
    "grad_norms": {"layers.9.linear": [1.0, 1.0, 1.0], "layers.0.linear": [1e-6, 0.0, 1e-7]},
}
CURVES = {"baseline": BASELINE, "batchnorm:remove-all": NO_BATCHNORM}


def test_no_epochs_yet_gives_no_charts():
    assert ablation_charts({}, baseline="baseline") is None
    empty = {"epochs": [], "train_loss": [], "val_loss": [], "grad_norms": {}}
    assert ablation_charts({"baseline": empty}, baseline="baseline") is None


def test_loss_per_variant_in_its_own_colour_the_original_bold():
    charts = ablation_charts(CURVES, baseline="baseline")
    loss = charts["loss"]
    assert loss["labels"] == [1, 2, 3]
    by_label = {s["label"]: s for s in loss["series"]}
    assert by_label["original"]["data"] == [
        1.1,
        0.55,
        None,
    ]  # the baseline is "original" to people  # the original ran 2 epochs
    assert by_label["original"]["bold"] and not by_label["batchnorm:remove-all"]["bold"]
    assert by_label["original (train)"]["dashed"]
    assert by_label["batchnorm:remove-all"]["color"] == 1 != by_label["original"]["color"]
    assert by_label["batchnorm:remove-all"]["data"][2] is None  # NaN breaks JSON: a gap
    json.dumps(charts, allow_nan=False)


def test_gradient_flow_lines_variants_up_by_layer_kind_input_side_first():
    flow = ablation_charts(CURVES, baseline="baseline")["flow"]
    assert flow["log"] is True
    # Model order, not jsonb's: layer 0, then 2, then 10. The variant without BatchNorm has
    # no point there, and its last linear (layers.9) lines up with the original's (layers.10).
    assert flow["labels"] == ["linear 1", "batchnorm 1", "linear 2"]
    original, ablated = flow["series"]
    assert original["data"] == [0.4, 0.1, 2.0]  # the last epoch's norms
    assert ablated["data"] == [1e-7, None, 1.0]


def test_first_to_last_gradient_ratio_per_epoch_with_gaps_for_zeros():
    ratio = ablation_charts(CURVES, baseline="baseline")["ratio"]
    original, ablated = ratio["series"]
    assert original["data"] == [0.5, 0.2, None]
    assert ablated["data"][0] == 1e-6
    assert ablated["data"][1] is None  # a zero norm cannot be drawn on a log axis

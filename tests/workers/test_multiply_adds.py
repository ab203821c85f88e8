"""count_multiply_adds (the schema's count of a forward pass, no torch) against torch's own
FLOP counter on the built model: within the bias and BatchNorm terms torch leaves out."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from workers.build import build_model
from workers.spec import count_multiply_adds, load_config

CONFIGS = {
    "mlp": [
        {"linear": {"units": 64}},
        "relu",
        {"linear": {"units": 32}},
        "relu",
        {"linear": {"units": "auto"}},
    ],
    "cnn": [
        {"conv2d": {"channels": 16, "kernel": 3}},
        "relu",
        {"conv2d": {"channels": 32, "kernel": 3, "stride": 2}},
        "relu",
        {"max_pool": {"kernel": 2}},
        {"flatten": {}},
        {"linear": {"units": "auto"}},
    ],
    "separable": [
        {"conv2d": {"channels": 16, "kernel": 3}},
        {"separable_conv2d": {"channels": 64, "kernel": 3}},
        "relu",
        {"separable_conv2d": {"channels": 64, "kernel": 3, "stride": 2}},
        {"global_avg_pool": {}},
        {"linear": {"units": "auto"}},
    ],
    "residual": [
        {"conv2d": {"channels": 16, "kernel": 3}},
        {
            "residual": [
                {"conv2d": {"channels": 16, "kernel": 3}},
                "relu",
                {"conv2d": {"channels": 16, "kernel": 3}},
            ]
        },
        {"residual": [{"conv2d": {"channels": 32, "kernel": 3, "stride": 2}}, "relu"]},
        {"global_avg_pool": {}},
        {"linear": {"units": "auto"}},
    ],
    "conv1d": [
        {"conv1d": {"channels": 8, "kernel": 5}},
        "relu",
        {"global_avg_pool": {}},
        {"linear": {"units": "auto"}},
    ],
}
SHAPES = {"conv1d": (2, 64)}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_multiply_adds_match_torchs_count(name):
    config = load_config({"version": 1, "model": {"layers": CONFIGS[name]}, "train": {"epochs": 1}})
    shape = SHAPES.get(name, (3, 16, 16))
    counted = count_multiply_adds(config, shape, 10)
    net = build_model(config, shape, 10).eval()
    with FlopCounterMode(display=False) as flops, torch.no_grad():
        net(torch.randn(1, *shape))
    torch_macs = flops.get_total_flops() // 2
    # torch counts matrix products and convolutions only; ours adds a bias per output, which
    # is a tenth of a 2-channel conv1d of kernel 5 (10 products per output) and less elsewhere
    assert torch_macs <= counted <= torch_macs * 1.12, (counted, torch_macs)


def test_a_separable_convolution_costs_a_fraction_of_a_plain_one():
    def macs(layer):
        layers = [{"conv2d": {"channels": 32, "kernel": 3}}, {layer: {"channels": 64, "kernel": 3}}]
        config = load_config({"version": 1, "model": {"layers": [*layers, {"linear": {"units": "auto"}}]}})
        return count_multiply_adds(config, (1, 8, 8), 10)

    # depthwise 3×3 + pointwise 1×1 per position: 32·9 + 32·64 against 32·64·9
    assert macs("separable_conv2d") < 0.5 * macs("conv2d")

"""The memory estimate an entry is admitted by: weights and gradients, optimiser state,
activations at the batch size (nested blocks included) and the dataset's tensors, all from
the schema; and the device's free memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.e2e.helpers import TINY_CONFIG
from workers.admission import (
    ACTIVATION_COPIES,
    FLOAT_BYTES,
    activations_per_row,
    cpu_available_bytes,
    device_free_bytes,
    meminfo,
    memory_estimate,
)
from workers.spec import parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def iris():
    from workers.data import load_dataset

    return load_dataset("iris")


@pytest.fixture(scope="module")
def digits():
    from workers.data import load_dataset

    return load_dataset("digits")


def test_an_mlp_estimate_by_hand(iris):
    estimate = memory_estimate(parse_config(TINY_CONFIG), iris)  # 4 -> 16 -> relu -> 3, Adam, batch 16
    n_params = 4 * 16 + 16 + 16 * 3 + 3
    assert estimate.parameters == n_params
    assert estimate.weights == 2 * n_params * FLOAT_BYTES  # weights and gradients
    assert estimate.optimiser == 2 * n_params * FLOAT_BYTES  # Adam's two moments
    per_row = 4 + 16 + 16 + 3  # the input, then each layer's output
    assert activations_per_row(parse_config(TINY_CONFIG), iris) == (per_row, 16)
    train_rows = len(iris.X_train)
    assert estimate.activations == FLOAT_BYTES * max(ACTIVATION_COPIES * per_row * 16, 2 * 16 * train_rows)
    rows = len(iris.X_train) + len(iris.X_test)
    assert estimate.data == (rows * 4 + len(iris.y_train)) * FLOAT_BYTES
    assert estimate.total == estimate.member + estimate.data


def test_the_weights_part_is_the_built_models_parameters(digits):
    from workers.build import build_model

    config = parse_config((ROOT / "examples" / "digits_cnn.yaml").read_text())
    model = build_model(config, digits.input_shape, digits.n_outputs)
    assert memory_estimate(config, digits).weights == 2 * FLOAT_BYTES * sum(
        p.numel() for p in model.parameters()
    )


@pytest.mark.parametrize(("optimizer", "state"), [("sgd", 0), ("momentum", 1), ("rmsprop", 2), ("adamw", 2)])
def test_optimiser_state_follows_the_optimiser(iris, optimizer, state):
    config = parse_config(TINY_CONFIG.replace("name: adam, lr: 0.01", f"name: {optimizer}, lr: 0.01"))
    estimate = memory_estimate(config, iris)
    assert estimate.optimiser == state * estimate.parameters * FLOAT_BYTES


def test_activations_grow_with_the_batch_size_and_count_nested_blocks(iris, digits):
    cnn = (ROOT / "examples" / "digits_cnn.yaml").read_text()
    small = memory_estimate(parse_config(cnn.replace("batch_size: 64", "batch_size: 512")), digits)
    large = memory_estimate(parse_config(cnn.replace("batch_size: 64", "batch_size: 1024")), digits)
    assert large.activations > small.activations and large.weights == small.weights
    residual = parse_config(
        """
version: 1
model:
  layers:
    - linear: {units: 8}
    - residual:
        - linear: {units: 8}
        - activation: relu
    - linear: {units: auto}
"""
    )
    # The input, the first linear, the block's two inner outputs and its own, the head.
    assert activations_per_row(residual, iris) == (4 + 8 + 8 + 8 + 8 + 3, 8)


@pytest.mark.parametrize(
    "example",
    ["digits_cnn", "residual_cnn", "separable_cnn", "transformer_digits", "pretrain_lora_digits"],
)
def test_every_digits_example_has_an_estimate_of_a_few_megabytes(digits, example):
    config = parse_config((ROOT / "examples" / f"{example}.yaml").read_text())
    estimate = memory_estimate(config, digits, pretrain=digits if config.pretrain else None)
    assert 0 < estimate.member < 64 * 2**20 and estimate.data > 0


def test_free_memory_on_the_cpu_is_the_kernels_available_memory(tmp_path):
    sample = tmp_path / "meminfo"
    sample.write_text(
        "MemTotal:       16384 kB\nMemFree:         1024 kB\nMemAvailable:    8192 kB\nHugePages_Total:       0\n"
    )
    assert meminfo(sample) == {
        "MemTotal": 16 * 2**20,
        "MemFree": 2**20,
        "MemAvailable": 8 * 2**20,
        "HugePages_Total": 0,
    }
    assert meminfo(tmp_path / "missing") == {}
    assert 0 < device_free_bytes("cpu") <= meminfo()["MemTotal"]
    assert cpu_available_bytes() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_estimate_covers_what_a_run_allocates(digits):
    from workers.training import train

    config = parse_config(
        (ROOT / "examples" / "digits_cnn.yaml").read_text().replace("epochs: 30", "epochs: 2")
    )
    # A first run leaves what the process keeps for every run (cuBLAS' workspaces, the
    # kernels' caches): the memory fraction the pool holds back covers those, not the estimate.
    train(config, digits, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    train(config, digits, device="cuda")
    peak = torch.cuda.max_memory_allocated() - before
    estimate = memory_estimate(config, digits)
    assert peak <= estimate.total, (peak, estimate)
    assert device_free_bytes("cuda") > 0

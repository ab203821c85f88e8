"""The trainer on a CUDA GPU: determinism, bf16 autocast. Skipped where no GPU
is present (the CI box); run on a GPU machine with

    .venv/bin/pytest tests/workers/test_train_cuda.py -q
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from workers import local
from workers import training as trainer
from workers.data import load_dataset
from workers.spec import load_config, parse_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str, epochs: int, **train_updates):
    config = local.with_epochs(parse_config((EXAMPLES / name).read_text(encoding="utf-8")), epochs)
    if train_updates:
        # Through the whole schema again: a config a submission could be.
        data = config.model_dump(mode="json")
        data["train"].update(train_updates)
        config = load_config(data)
    return config


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_same_seed_on_the_gpu_gives_bit_identical_predictions(digits):
    config = example("digits_cnn.yaml", 3)
    a = trainer.train(config, digits, device="cuda")
    b = trainer.train(config, digits, device="cuda")
    assert a.device.startswith("cuda")
    assert a.probabilities.tobytes() == b.probabilities.tobytes()
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key
    assert a.state_dict[next(iter(a.state_dict))].device.type == "cpu"  # saved weights come back to the host


@pytest.mark.parametrize("name", ["digits_cnn.yaml", "transformer_digits.yaml", "residual_cnn.yaml"])
def test_bf16_autocast_trains_when_the_config_asks(digits, name):
    result = trainer.train(example(name, 3, precision="bf16"), digits, device="cuda")
    assert result.precision == "bf16"
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    assert (
        result.history[-1]["val_metric"]["value"] > 0.3
    )  # chance is 0.1; the transformer is at ~0.5 after 3 epochs
    assert np.allclose(result.probabilities.sum(axis=1), 1.0)


def test_lstm_and_lora_finetune_on_the_gpu():
    waves = load_dataset("waveforms")
    assert trainer.train(example("lstm_waveforms.yaml", 2), waves, device="cuda").predictions is not None
    few = load_dataset("digits-faded-fewshot")
    result = trainer.train(example("pretrain_lora_digits.yaml", 2), few, device="cuda")
    assert [h["phase"] for h in result.history] == ["pretrain", "pretrain", "train", "train"]
    assert not [k for k in result.state_dict if "lora" in k]

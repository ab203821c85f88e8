"""Every ablation variant of the digits CNN and of the pre-training + LoRA example builds with
torch and trains: one epoch of a few batches on small slices of the catalog's data, through the
trainer a worker runs. The derivation itself is tested without torch in test_ablations.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from workers import training as trainer
from workers.ablations import ablation_base, ablation_variants
from workers.build import build_model
from workers.data import TrainData, load_dataset
from workers.local import with_epochs
from workers.spec import count_parameters, load_config, n_outputs_for, parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def head(slug: str, rows: int) -> TrainData:
    """The first `rows` training rows of a catalog dataset, and 32 of its test rows."""
    data = load_dataset(slug)
    return TrainData(
        X_train=data.X_train[:rows],
        y_train=data.y_train[:rows],
        X_test=data.X_test[:32],
        test_ids=data.test_ids[:32],
        manifest=data.manifest,
        slug=slug,
    )


def example(name: str) -> dict:
    return parse_config((ROOT / "examples" / f"{name}.yaml").read_text(encoding="utf-8")).model_dump(
        mode="json"
    )


def one_epoch(config: dict):
    """The config cut to one epoch of batches of 32: a few optimiser steps per phase."""
    data = with_epochs(load_config(config), 1).model_dump(mode="json")
    data["train"]["batch_size"] = 32
    if data.get("pretrain"):
        data["pretrain"]["batch_size"] = 32
    return load_config(data)


def trains(config: dict, data: TrainData, pretrain: TrainData | None = None) -> trainer.TrainResult:
    parsed = one_epoch(config)
    result = trainer.train(parsed, data, pretrain_data=pretrain)
    assert result.stopped_reason == trainer.COMPLETED, result.stop_message
    assert result.predictions is not None and len(result.predictions) == len(data.test_ids)
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    # The count the web tier shows (no torch) is what torch builds.
    built = build_model(parsed, data.input_shape, n_outputs_for(data.manifest))
    assert result.n_parameters == sum(p.numel() for p in built.parameters())
    assert result.n_parameters == count_parameters(parsed, data.input_shape, n_outputs_for(data.manifest))
    return result


DIGITS_CNN = example("digits_cnn")


@pytest.fixture(scope="module")
def digits():
    return head("digits", 160)


@pytest.mark.parametrize("variant", ablation_variants(DIGITS_CNN), ids=lambda v: v.key)
def test_each_variant_of_the_digits_cnn_trains(variant, digits):
    result = trains(variant.config, digits)
    assert [h["phase"] for h in result.history] == ["train"]


PRETRAIN_LORA = example("pretrain_lora_digits")


@pytest.fixture(scope="module")
def fewshot():
    return head("digits-faded-fewshot", 50), head("digits", 160)


@pytest.mark.parametrize("variant", ablation_variants(PRETRAIN_LORA), ids=lambda v: v.key)
def test_each_variant_of_the_pretrain_lora_example_trains(variant, fewshot):
    target, source = fewshot
    result = trains(variant.config, target, source)
    phases = [h["phase"] for h in result.history]
    assert phases == (["train"] if variant.key == "finetune:scratch" else ["pretrain", "train"])


def test_the_finetune_variants_train_what_they_say(fewshot):
    """LoRA trains adapters and the head, head-only the head, full and scratch everything."""
    target, source = fewshot
    variants = {v.key: v for v in ablation_variants(PRETRAIN_LORA)}
    lora = trains(ablation_base(PRETRAIN_LORA), target, source)
    full = trains(variants["finetune:full"].config, target, source)
    only_head = trains(variants["finetune:head"].config, target, source)
    scratch = trains(variants["finetune:scratch"].config, target, source)
    assert full.n_trainable == full.n_parameters == scratch.n_trainable
    assert only_head.n_trainable == 64 * 10 + 10  # the head: linear 64 -> the ten digits
    assert only_head.n_trainable < lora.n_trainable < full.n_trainable

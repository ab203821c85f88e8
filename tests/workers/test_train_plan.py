"""The config resolved into a training plan: every setting of train, and pre-training's
inheritance from train. Pure Python: no model is built, nothing is trained."""

from __future__ import annotations

import dataclasses

import pytest

from workers.spec import parse_config
from workers.training.plan import EarlyStopping, plan_for

BASE = "version: 1\nseed: 7\nmodel: {layers: [linear: 8, relu, linear: auto]}\n"


def plan(text: str = ""):
    return plan_for(parse_config(BASE + text))


def test_defaults_of_a_config_that_sets_nothing():
    p = plan()
    t = p.train
    assert (t.phase, t.epochs, t.batch_size, t.validation_fraction) == ("train", 10, 64, 0.1)
    assert (t.optimizer.name, t.optimizer.lr) == ("adam", 0.001)
    assert t.scheduler.name == "constant"
    assert t.clip is None and t.early_stopping is None
    assert (t.split_seed, t.shuffle_seed) == (7, 8)  # training shuffles with seed + 1
    assert (p.seed, p.precision, p.pretrain, p.pretrain_dataset, p.finetune) == (7, "fp32", None, None, None)
    assert p.phases == (t,)


@pytest.mark.parametrize(
    ("optimizer", "expected"),
    [
        ("{name: sgd, lr: 0.5, weight_decay: 0.1}", {"lr": 0.5, "weight_decay": 0.1}),
        ("{name: momentum, momentum: 0.8}", {"momentum": 0.8, "lr": 0.01}),
        ("{name: nesterov, momentum: 0.7}", {"momentum": 0.7}),
        (
            "{name: rmsprop, alpha: 0.9, eps: 0.001, momentum: 0.1}",
            {"alpha": 0.9, "eps": 0.001, "momentum": 0.1},
        ),
        ("{name: adam, betas: [0.8, 0.99], eps: 0.0001}", {"betas": (0.8, 0.99), "eps": 0.0001}),
        ("{name: adamw, lr: 0.003}", {"lr": 0.003, "weight_decay": 0.01}),
    ],
)
def test_every_optimiser_and_its_settings(optimizer, expected):
    t = plan(f"train: {{optimizer: {optimizer}}}\n").train
    assert t.optimizer.name == optimizer.split(",")[0].removeprefix("{name: ").rstrip("}")
    for key, value in expected.items():
        assert getattr(t.optimizer, key) == value, key
    assert t.clip is None


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [
        ("{name: constant}", {}),
        ("{name: step, step_epochs: 3, gamma: 0.5}", {"step_epochs": 3, "gamma": 0.5}),
        ("{name: exponential, gamma: 0.9}", {"gamma": 0.9}),
        ("{name: cosine, warmup_epochs: 2, min_lr_ratio: 0.1}", {"warmup_epochs": 2, "min_lr_ratio": 0.1}),
        ("{name: warmup_cosine, warmup_epochs: 3}", {"warmup_epochs": 3, "min_lr_ratio": 0.0}),
        (
            "{name: one_cycle, pct_start: 0.2, div_factor: 10, final_div_factor: 100}",
            {"pct_start": 0.2, "div_factor": 10.0, "final_div_factor": 100.0},
        ),
    ],
)
def test_every_scheduler_and_its_settings(scheduler, expected):
    t = plan(f"train: {{scheduler: {scheduler}}}\n").train
    assert t.scheduler.name == scheduler.split(",")[0].removeprefix("{name: ").rstrip("}")
    for key, value in expected.items():
        assert getattr(t.scheduler, key) == value, key


def test_clipping_is_the_optimisers_grad_clip():
    assert plan("train: {optimizer: {name: sgd, grad_clip: 2.5}}\n").train.clip == 2.5


def test_early_stopping_validation_split_precision_epochs_and_batch_size():
    p = plan(
        "train: {epochs: 4, batch_size: 16, validation_fraction: 0.25, precision: bf16,"
        " early_stopping: {patience: 3, min_delta: 0.01}}\n"
    )
    t = p.train
    assert (t.epochs, t.batch_size, t.validation_fraction) == (4, 16, 0.25)
    assert t.early_stopping == EarlyStopping(patience=3, min_delta=0.01)
    assert plan("train: {early_stopping: {}}\n").train.early_stopping == EarlyStopping(5, 0.0)
    # bf16 is what the config asks; it applies on CUDA only.
    assert p.precision == "bf16"
    assert (p.precision_on("cuda"), p.precision_on("cpu")) == ("bf16", "fp32")


def test_pretraining_inherits_trains_settings_it_does_not_set():
    p = plan(
        "train: {batch_size: 16, validation_fraction: 0.2, optimizer: {name: sgd, lr: 0.1, grad_clip: 1.0},"
        " scheduler: {name: cosine}, early_stopping: {patience: 2}}\n"
        "pretrain: {dataset: digits}\n"
    )
    pre, t = p.pretrain, p.train
    assert p.pretrain_dataset == "digits" and p.phases == (pre, t)
    assert (pre.phase, pre.epochs) == ("pretrain", 5)  # the schema's default, not train's
    assert pre.batch_size == 16 and pre.optimizer == t.optimizer and pre.scheduler == t.scheduler
    assert pre.clip == 1.0 and pre.early_stopping == t.early_stopping == EarlyStopping(2, 0.0)
    assert pre.validation_fraction == 0.2
    assert (pre.split_seed, pre.shuffle_seed) == (7, 7) and (t.split_seed, t.shuffle_seed) == (7, 8)


def test_pretraining_settings_override_trains_and_its_optimiser_brings_its_own_clip():
    p = plan(
        "train: {batch_size: 16, optimizer: {name: sgd, grad_clip: 1.0}, scheduler: {name: cosine}}\n"
        "pretrain: {dataset: digits, epochs: 2, batch_size: 128, optimizer: {name: adamw, lr: 0.002},"
        " scheduler: {name: exponential, gamma: 0.5}}\n"
    )
    pre = p.pretrain
    assert (pre.epochs, pre.batch_size) == (2, 128)
    assert (pre.optimizer.name, pre.optimizer.lr, pre.clip) == ("adamw", 0.002, None)
    assert (pre.scheduler.name, pre.scheduler.gamma) == ("exponential", 0.5)
    assert (p.train.batch_size, p.train.optimizer.name, p.train.clip) == (16, "sgd", 1.0)


def test_finetune_section_travels_with_the_plan_and_the_plan_is_frozen():
    p = plan("pretrain: {dataset: digits}\nfinetune: {mode: head}\n")
    assert p.finetune.effective_mode == "head"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.train.epochs = 3

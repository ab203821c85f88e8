"""Optimisers, gradient clipping, learning-rate schedules and the registry itself."""

from __future__ import annotations

import math

import pytest
import torch

from workers import techniques
from workers.build import build_model, build_optimizer, build_scheduler, clip_gradients
from workers.spec import parse_config
from workers.techniques.base import Technique
from workers.techniques.schedulers import lr_factor

torch.set_num_threads(1)


def train_config(optimizer: str, scheduler: str = "constant", epochs: int = 4):
    return parse_config(
        f"version: 1\nmodel: {{layers: [linear: 16, relu, linear: auto]}}\n"
        f"train: {{epochs: {epochs}, optimizer: {optimizer}, scheduler: {scheduler}}}\n"
    )


@pytest.mark.parametrize(
    ("optimizer", "torch_class", "check"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0, "nesterov": False}),
        (
            "{name: momentum, lr: 0.05, momentum: 0.8}",
            torch.optim.SGD,
            {"momentum": 0.8, "nesterov": False, "lr": 0.05},
        ),
        ("nesterov", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ("{name: rmsprop, alpha: 0.9}", torch.optim.RMSprop, {"alpha": 0.9, "lr": 0.001}),
        (
            "{name: adam, betas: [0.8, 0.99], weight_decay: 0.001}",
            torch.optim.Adam,
            {"betas": (0.8, 0.99), "weight_decay": 0.001},
        ),
        ("adamw", torch.optim.AdamW, {"weight_decay": 0.01, "lr": 0.001}),
    ],
)
def test_optimizers_build_and_reduce_the_loss(optimizer, torch_class, check):
    config = train_config(optimizer)
    model = build_model(config, (4,), 2)
    opt = build_optimizer(model, config.train.optimizer)
    assert type(opt) is torch_class
    for key, value in check.items():
        assert opt.param_groups[0][key] == value, key
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    y = (x[:, 0] > 0).long()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_optimizer_skips_frozen_parameters():
    config = train_config("adam")
    model = build_model(config, (4,), 2)
    model.layers[0].linear.weight.requires_grad_(False)
    opt = build_optimizer(model, config.train.optimizer)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )


def test_gradient_clipping_bounds_the_global_norm():
    config = train_config("{name: sgd, grad_clip: 0.5}")
    model = build_model(config, (4,), 2)
    (model(torch.randn(8, 4) * 100).sum() * 100).backward()
    before = clip_gradients(model.parameters(), config.train.optimizer)
    after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert before > 0.5 and after.item() == pytest.approx(0.5, rel=1e-4)
    assert clip_gradients(model.parameters(), train_config("sgd").train.optimizer) is None


def lrs(scheduler: str, epochs: int, spe: int, lr: float = 0.1) -> list[float]:
    """The learning rate used at each batch, stepping the scheduler once per batch."""
    config = train_config(f"{{name: sgd, lr: {lr}}}", scheduler, epochs)
    model = build_model(config, (4,), 2)
    opt = build_optimizer(model, config.train.optimizer)
    sched = build_scheduler(opt, config.train.scheduler, spe, epochs)
    out = []
    for _ in range(epochs * spe):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_constant_schedule():
    assert lrs("constant", 3, 4) == [0.1] * 12


def test_step_schedule_changes_at_epoch_boundaries():
    got = lrs("{name: step, step_epochs: 2, gamma: 0.5}", 5, 3)
    assert got == pytest.approx([0.1] * 6 + [0.05] * 6 + [0.025] * 3)


def test_exponential_schedule_decays_per_epoch():
    got = lrs("{name: exponential, gamma: 0.9}", 3, 2)
    assert got == pytest.approx([0.1, 0.1, 0.09, 0.09, 0.081, 0.081])


def test_cosine_schedule_anneals_to_the_floor():
    got = lrs("{name: cosine, min_lr_ratio: 0.1}", 4, 5)
    assert got[0] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(got, got[1:], strict=False))
    assert got[10] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))
    assert got[-1] > 0.01 and got[-1] < 0.012


def test_warmup_cosine_rises_then_falls():
    got = lrs("{name: warmup_cosine, warmup_epochs: 1}", 4, 4)
    assert got[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert got[4] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(got[4:], got[5:], strict=False))
    assert lrs("{name: cosine, warmup_epochs: 2}", 4, 2)[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])


def test_one_cycle_peaks_at_the_base_rate():
    got = lrs("{name: one_cycle, pct_start: 0.25, div_factor: 10, final_div_factor: 100}", 4, 10)
    peak = got.index(max(got))
    assert got[0] == pytest.approx(0.01)
    assert peak == 10 and got[peak] == pytest.approx(0.1)
    assert got[-1] < 0.001
    # Stepping past the planned total keeps the final rate instead of failing.
    cfg = train_config("sgd", "one_cycle").train.scheduler
    assert lr_factor(cfg, 10_000, 10, 4) == pytest.approx(lr_factor(cfg, 40, 10, 4))


def test_registry_rejects_duplicates_and_unknown_families():
    with pytest.raises(ValueError, match="registered twice"):
        techniques.register(techniques.get("layer", "linear"))
    with pytest.raises(ValueError, match="unknown family"):
        techniques.register(Technique("x", "nonsense", "why", None))


def test_every_technique_has_a_one_line_why_and_layers_have_builders():
    for (family, name), t in techniques.REGISTRY.items():
        assert t.why and "\n" not in t.why, name
        if family == "layer":
            assert t.build is not None and t.infer is not None, name


def test_schedules_are_finite_everywhere():
    for name in techniques.family("scheduler"):
        cfg = train_config("sgd", name, 6).train.scheduler
        values = [lr_factor(cfg, s, 7, 6) for s in range(6 * 7)]  # every batch that trains
        assert all(math.isfinite(v) and v > 0 for v in values), name


def test_every_technique_module_is_discovered():
    import importlib
    import pkgutil

    names = [
        m.name
        for m in pkgutil.iter_modules(techniques.__path__)
        if not m.name.startswith("_") and m.name != "base"
    ]
    assert len(names) >= 10
    for name in names:
        module = importlib.import_module(f"workers.techniques.{name}")
        for t in module.TECHNIQUES:
            assert techniques.REGISTRY[(t.family, t.name)] is t

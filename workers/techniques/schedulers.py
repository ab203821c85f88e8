"""Learning-rate schedules. Every scheduler built here is stepped once per BATCH
(call `scheduler.step()` after each `optimizer.step()`); epoch-based settings
(step_epochs, warmup_epochs, the exponential gamma) are converted to batches with
steps_per_epoch, so a step schedule still changes at epoch boundaries."""

from __future__ import annotations

import math
from typing import Literal

from .base import Float, Int, NamedParams, Technique


class Constant(NamedParams):
    name: Literal["constant"] = "constant"


class Step(NamedParams):
    name: Literal["step"] = "step"
    step_epochs: Int(1, 1000) = 10
    gamma: Float(gt=0.0, le=1.0) = 0.1


class Exponential(NamedParams):
    name: Literal["exponential"] = "exponential"
    gamma: Float(gt=0.0, le=1.0) = 0.95


class Cosine(NamedParams):
    name: Literal["cosine"] = "cosine"
    warmup_epochs: Int(0, 100) = 0
    min_lr_ratio: Float(ge=0.0, le=1.0) = 0.0


class WarmupCosine(NamedParams):
    name: Literal["warmup_cosine"] = "warmup_cosine"
    warmup_epochs: Int(1, 100) = 1
    min_lr_ratio: Float(ge=0.0, le=1.0) = 0.0


class OneCycle(NamedParams):
    name: Literal["one_cycle"] = "one_cycle"
    pct_start: Float(gt=0.0, lt=1.0) = 0.3
    div_factor: Float(ge=1.0, le=1e4) = 25.0
    final_div_factor: Float(ge=1.0, le=1e6) = 1e4


def lr_factor(cfg: NamedParams, step: int, steps_per_epoch: int, epochs: int) -> float:
    """The multiplier of the base learning rate at batch `step` (0-based)."""
    total = max(1, steps_per_epoch * epochs)
    step = min(step, total)
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        return cfg.gamma ** (step // (cfg.step_epochs * steps_per_epoch))
    if cfg.name == "exponential":
        return cfg.gamma ** (step // steps_per_epoch)
    if cfg.name in ("cosine", "warmup_cosine"):
        warm = cfg.warmup_epochs * steps_per_epoch
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.name == "one_cycle":
        # Cosine up from lr/div_factor to lr over pct_start, then cosine down to lr/(div*final_div).
        start = 1.0 / cfg.div_factor
        end = start / cfg.final_div_factor
        up = max(1, int(cfg.pct_start * total))
        if step < up:
            return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * step / up))
        progress = (step - up) / max(1, total - up)
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown scheduler {cfg.name!r}")


def build_scheduler(optimizer, cfg: NamedParams, steps_per_epoch: int, epochs: int):
    """A LambdaLR stepped per batch (see the module docstring)."""
    from torch.optim.lr_scheduler import LambdaLR

    spe = max(1, int(steps_per_epoch))
    return LambdaLR(optimizer, lambda step: lr_factor(cfg, step, spe, epochs))


TECHNIQUES = [
    Technique("constant", "scheduler", "The same learning rate throughout.", Constant),
    Technique("step", "scheduler", "Multiply the rate by gamma every step_epochs epochs.", Step),
    Technique("exponential", "scheduler", "Multiply the rate by gamma after every epoch.", Exponential),
    Technique(
        "cosine", "scheduler", "Anneal along a half cosine to min_lr_ratio (optional linear warm-up).", Cosine
    ),
    Technique(
        "warmup_cosine",
        "scheduler",
        "Linear warm-up, then cosine decay: avoids early instability with large rates and Adam/Transformers.",
        WarmupCosine,
    ),
    Technique(
        "one_cycle",
        "scheduler",
        "Rise to the peak rate then anneal far below it (super-convergence): fast training in few epochs.",
        OneCycle,
    ),
]

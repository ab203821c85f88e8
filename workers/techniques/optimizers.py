"""Optimisers. Every one takes `lr`, `weight_decay` and `grad_clip` (the largest
global L2 norm of the gradients, applied by the trainer through `clip_gradients`
before each step; null: no clipping)."""

from __future__ import annotations

from typing import Literal

from .base import Float, NamedParams, Technique

Beta = Float(ge=0.0, lt=1.0)


class OptimizerParams(NamedParams):
    lr: Float(gt=0.0, le=10.0) = 0.01
    weight_decay: Float(ge=0.0, le=1.0) = 0.0
    grad_clip: Float(gt=0.0, le=1000.0) | None = None


class SGD(OptimizerParams):
    name: Literal["sgd"] = "sgd"


class Momentum(OptimizerParams):
    name: Literal["momentum"] = "momentum"
    momentum: Float(gt=0.0, lt=1.0) = 0.9


class Nesterov(OptimizerParams):
    name: Literal["nesterov"] = "nesterov"
    momentum: Float(gt=0.0, lt=1.0) = 0.9


class RMSprop(OptimizerParams):
    name: Literal["rmsprop"] = "rmsprop"
    lr: Float(gt=0.0, le=10.0) = 0.001
    alpha: Float(gt=0.0, lt=1.0) = 0.99
    momentum: Float(ge=0.0, lt=1.0) = 0.0
    eps: Float(gt=0.0, le=1.0) = 1e-8


class Adam(OptimizerParams):
    name: Literal["adam"] = "adam"
    lr: Float(gt=0.0, le=10.0) = 0.001
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    eps: Float(gt=0.0, le=1.0) = 1e-8


class AdamW(Adam):
    name: Literal["adamw"] = "adamw"
    weight_decay: Float(ge=0.0, le=1.0) = 0.01


def build_optimizer(params, cfg: OptimizerParams):
    """`params`: a module (its trainable parameters are used) or an iterable of
    parameters / parameter groups."""
    import torch
    from torch import nn

    if isinstance(params, nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    wd = cfg.weight_decay
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=wd)
    if cfg.name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.name == "nesterov", weight_decay=wd
        )
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum, weight_decay=wd
        )
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=wd)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=wd)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def clip_gradients(parameters, cfg: OptimizerParams):
    """Clip to cfg.grad_clip (global L2 norm); returns the norm before clipping, or None when off."""
    import torch

    if cfg.grad_clip is None:
        return None
    return torch.nn.utils.clip_grad_norm_(parameters, cfg.grad_clip)


TECHNIQUES = [
    Technique("sgd", "optimizer", "Plain stochastic gradient descent.", SGD),
    Technique(
        "momentum",
        "optimizer",
        "SGD with a velocity term: smooths noisy gradients, speeds up along consistent directions.",
        Momentum,
    ),
    Technique(
        "nesterov",
        "optimizer",
        "Momentum that looks ahead before stepping: a bit more stable and faster.",
        Nesterov,
    ),
    Technique(
        "rmsprop",
        "optimizer",
        "Scales each parameter's step by a running average of its squared gradients.",
        RMSprop,
    ),
    Technique(
        "adam",
        "optimizer",
        "Momentum plus per-parameter scaling with bias correction: the robust default.",
        Adam,
    ),
    Technique(
        "adamw", "optimizer", "Adam with decoupled weight decay, the standard for Transformers.", AdamW
    ),
]

"""Weight initialisers for every linear and convolution weight of the model
(biases start at zero, except with `default`, which keeps torch's own init)."""

from __future__ import annotations

from typing import Literal

from .base import Float, NamedParams, Technique


class Default(NamedParams):
    name: Literal["default"] = "default"


class XavierUniform(NamedParams):
    name: Literal["xavier_uniform"] = "xavier_uniform"
    gain: Float(gt=0.0, le=10.0) = 1.0


class XavierNormal(NamedParams):
    name: Literal["xavier_normal"] = "xavier_normal"
    gain: Float(gt=0.0, le=10.0) = 1.0


class HeUniform(NamedParams):
    name: Literal["he_uniform"] = "he_uniform"
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Literal["relu", "leaky_relu"] = "relu"


class HeNormal(NamedParams):
    name: Literal["he_normal"] = "he_normal"
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Literal["relu", "leaky_relu"] = "relu"


class Orthogonal(NamedParams):
    name: Literal["orthogonal"] = "orthogonal"
    gain: Float(gt=0.0, le=10.0) = 1.0


def init_weight(weight, p: NamedParams) -> None:
    from torch import nn

    if p.name == "xavier_uniform":
        nn.init.xavier_uniform_(weight, gain=p.gain)
    elif p.name == "xavier_normal":
        nn.init.xavier_normal_(weight, gain=p.gain)
    elif p.name == "he_uniform":
        nn.init.kaiming_uniform_(weight, mode=p.mode, nonlinearity=p.nonlinearity)
    elif p.name == "he_normal":
        nn.init.kaiming_normal_(weight, mode=p.mode, nonlinearity=p.nonlinearity)
    elif p.name == "orthogonal":
        nn.init.orthogonal_(weight, gain=p.gain)


def apply_init(model, p: NamedParams) -> None:
    """Re-initialise every Linear/Conv1d/Conv2d weight in `model` (in module order,
    so the result depends only on the seed)."""
    import torch
    from torch import nn

    if p.name == "default":
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
                init_weight(module.weight, p)
                if module.bias is not None:
                    module.bias.zero_()


TECHNIQUES = [
    Technique("default", "init", "PyTorch's own per-layer defaults (scaled uniform).", Default),
    Technique(
        "xavier_uniform",
        "init",
        "Glorot: variance 2/(fan_in+fan_out), keeps signals steady through tanh/sigmoid layers.",
        XavierUniform,
    ),
    Technique("xavier_normal", "init", "Glorot with a normal distribution.", XavierNormal),
    Technique(
        "he_uniform",
        "init",
        "Kaiming: variance 2/fan, made for ReLU so deep ReLU stacks neither explode nor vanish.",
        HeUniform,
    ),
    Technique("he_normal", "init", "Kaiming with a normal distribution.", HeNormal),
    Technique(
        "orthogonal",
        "init",
        "Orthogonal matrices preserve norms exactly at the start of training.",
        Orthogonal,
    ),
]

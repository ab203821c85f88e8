"""Weight initialisers for every linear and convolution weight of the model
(biases start at zero, except with `default`, which keeps torch's own init)."""

from __future__ import annotations

from typing import Literal

from .base import Float, NamedParams, Technique, named_union


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


class Zeros(NamedParams):
    name: Literal["zeros"] = "zeros"


class Orthogonal(NamedParams):
    name: Literal["orthogonal"] = "orthogonal"
    gain: Float(gt=0.0, le=10.0) = 1.0


# A layer's own initialiser (`linear: {units: 64, init: zeros}`), over the model's.
LayerInit = named_union(
    "initialiser",
    {
        c.model_fields["name"].default: c
        for c in (Default, XavierUniform, XavierNormal, HeUniform, HeNormal, Orthogonal, Zeros)
    },
)


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
    elif p.name == "zeros":
        nn.init.zeros_(weight)


def apply_init(model, p: NamedParams, *, keep_default: bool = True) -> None:
    """Re-initialise every Linear/Conv1d/Conv2d weight in `model` (in module order,
    so the result depends only on the seed). `default` leaves the model as built,
    unless `keep_default` is False (a layer's own `init: default` over the model's)."""
    import torch
    from torch import nn

    if p.name == "default":
        if not keep_default:
            for module in model.modules():
                if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
                    module.reset_parameters()
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
                init_weight(module.weight, p)
                if module.bias is not None:
                    module.bias.zero_()


def zero_last_layer(block) -> bool:
    """Zero the last Linear/Conv weight, or the last norm's scale when a norm comes after it,
    of a residual block's layers, so the block starts as the identity; False when it has none."""
    import torch
    from torch import nn

    last = None
    for module in block.modules():
        if isinstance(
            module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.modules.batchnorm._BatchNorm | nn.LayerNorm
        ):
            if getattr(module, "weight", None) is not None:
                last = module
    if last is None:
        return False
    with torch.no_grad():
        last.weight.zero_()
        if last.bias is not None:
            last.bias.zero_()
    return True


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
    Technique(
        "zeros",
        "init",
        "All zeros: for single layers only (a head, a residual block's last layer), never a whole model.",
        Zeros,
    ),
]

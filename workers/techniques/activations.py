"""Activations: the non-linearity between layers. Used as `activation: relu`,
`activation: {name: leaky_relu, negative_slope: 0.1}`, or a bare `- relu`."""

from __future__ import annotations

from typing import Literal

from .base import Float, NamedParams, Technique


class Sigmoid(NamedParams):
    name: Literal["sigmoid"] = "sigmoid"


class Tanh(NamedParams):
    name: Literal["tanh"] = "tanh"


class ReLU(NamedParams):
    name: Literal["relu"] = "relu"


class LeakyReLU(NamedParams):
    name: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: Float(ge=0.0, le=1.0) = 0.01


class ELU(NamedParams):
    name: Literal["elu"] = "elu"
    alpha: Float(gt=0.0, le=10.0) = 1.0


class GELU(NamedParams):
    name: Literal["gelu"] = "gelu"


class SiLU(NamedParams):
    name: Literal["silu"] = "silu"


def build_activation(p: NamedParams):
    from torch import nn

    if p.name == "leaky_relu":
        return nn.LeakyReLU(p.negative_slope)
    if p.name == "elu":
        return nn.ELU(p.alpha)
    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}[
        p.name
    ]()


TECHNIQUES = [
    Technique(
        "sigmoid",
        "activation",
        "Smooth 0..1 squashing; saturates, so gradients vanish in deep stacks.",
        Sigmoid,
    ),
    Technique("tanh", "activation", "Zero-centred squashing; still saturates at both ends.", Tanh),
    Technique(
        "relu",
        "activation",
        "max(0, x): no saturation for positive inputs, the default that made deep nets trainable.",
        ReLU,
    ),
    Technique(
        "leaky_relu",
        "activation",
        "ReLU with a small negative slope, so units never die completely.",
        LeakyReLU,
    ),
    Technique("elu", "activation", "Exponential below zero: smooth, mean activations nearer zero.", ELU),
    Technique("gelu", "activation", "Gaussian-weighted ReLU, the Transformer default.", GELU),
    Technique(
        "silu", "activation", "x * sigmoid(x) (swish): smooth and non-monotonic, strong in deep CNNs.", SiLU
    ),
]

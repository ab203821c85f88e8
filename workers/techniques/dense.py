"""Shape-agnostic layers: linear (fully connected), activation, dropout, flatten,
batchnorm and layernorm."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from . import activations
from .base import Float, Int, Params, Shape, Technique, Weights, dense, kind_of, named_union, no_weights, norm
from .initialisers import LayerInit

MAX_UNITS = 8192


def _one_units_error(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("units", f"must be an integer from 1 to {MAX_UNITS}, or auto") from None


Units = Annotated[
    Union[Int(1, MAX_UNITS), Literal["auto"]],  # noqa: UP007
    WrapValidator(_one_units_error),
]


class LinearParams(Params):
    shorthand = "units"
    units: Units
    bias: bool = True
    init: LayerInit | None = None  # None: the model's init


def _linear_infer(p: LinearParams, shape: Shape, ctx) -> Shape:
    return (ctx.n_outputs if p.units == "auto" else p.units,)


def _linear_weights(p: LinearParams, shape: Shape, ctx) -> list[Weights]:
    return [dense(math.prod(shape), _linear_infer(p, shape, ctx)[0], p.bias)]


def _norm_weights(p: Any, shape: Shape, ctx) -> list[Weights]:
    return [norm(shape[0])]


def _linear_build(p: LinearParams, shape: Shape, ctx):
    from ._modules import FlattenLinear

    out = ctx.n_outputs if p.units == "auto" else p.units
    return FlattenLinear(math.prod(shape), out, bias=p.bias)


ActivationChoice = named_union("activation", {t.name: t.params for t in activations.TECHNIQUES})


def _identity(p: Any, shape: Shape, ctx) -> Shape:
    return shape


class DropoutParams(Params):
    shorthand = "p"
    p: Float(ge=0.0, le=0.95) = 0.5


def _dropout_build(p: DropoutParams, shape: Shape, ctx):
    from ._modules import Dropout

    return Dropout(p.p)


class FlattenParams(Params):
    pass


def _flatten_build(p: FlattenParams, shape: Shape, ctx):
    from torch import nn

    return nn.Flatten(1)


class BatchNormParams(Params):
    momentum: Float(gt=0.0, le=1.0) = 0.1
    eps: Float(gt=0.0, le=0.1) = 1e-5


def _batchnorm_build(p: BatchNormParams, shape: Shape, ctx):
    from torch import nn

    # BatchNorm1d normalises [N,F] and [N,C,T] alike (per feature / per channel).
    cls = nn.BatchNorm2d if kind_of(shape) == "image" else nn.BatchNorm1d
    return cls(shape[0], eps=p.eps, momentum=p.momentum)


class LayerNormParams(Params):
    eps: Float(gt=0.0, le=0.1) = 1e-5


def _layernorm_build(p: LayerNormParams, shape: Shape, ctx):
    from torch import nn

    from ._modules import ChannelLayerNorm

    if kind_of(shape) == "tabular":
        return nn.LayerNorm(shape[0], eps=p.eps)
    return ChannelLayerNorm(shape[0], p.eps)


TECHNIQUES = [
    Technique(
        "linear",
        "layer",
        "Fully connected layer; flattens a [C,T] or [C,H,W] input first. units: auto = number of classes (1 for regression).",
        LinearParams,
        _linear_build,
        _linear_infer,
        weights=_linear_weights,
    ),
    Technique(
        "activation",
        "layer",
        "A non-linearity (see the activations).",
        None,
        lambda p, shape, ctx: activations.build_activation(p),
        _identity,
        weights=no_weights,
        extra={"field_type": ActivationChoice},
    ),
    Technique(
        "dropout",
        "layer",
        "Zeroes a random fraction p of activations while training: a cheap ensemble against overfitting.",
        DropoutParams,
        _dropout_build,
        _identity,
        weights=no_weights,
    ),
    Technique(
        "flatten",
        "layer",
        "Turns [C,T] or [C,H,W] into one vector.",
        FlattenParams,
        _flatten_build,
        lambda p, shape, ctx: (math.prod(shape),),
        weights=no_weights,
    ),
    Technique(
        "batchnorm",
        "layer",
        "Normalises each channel over the batch (1d or 2d from the shape): faster, more stable training of deep nets.",
        BatchNormParams,
        _batchnorm_build,
        _identity,
        weights=_norm_weights,
    ),
    Technique(
        "layernorm",
        "layer",
        "Normalises each sample over its features/channels; batch-size independent.",
        LayerNormParams,
        _layernorm_build,
        _identity,
        weights=_norm_weights,
    ),
]

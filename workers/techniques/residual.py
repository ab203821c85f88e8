"""Residual block: `residual: [layers…]` computes block(x) + x. When the block
changes the channels or the resolution, the skip path is a 1x1 convolution (a
linear layer for tabular input) with the stride that matches the block's output."""

from __future__ import annotations

from .base import Shape, ShapeError, Stop, Technique, Weights, conv, dense, fmt_shape, kind_of


def _stride_for(inp: tuple[int, ...], out: tuple[int, ...]) -> int | None:
    for s in range(1, 9):
        if all((i - 1) // s + 1 == o for i, o in zip(inp, out, strict=True)):
            return s
    return None


def _projection(shape: Shape, out: Shape) -> tuple[str, int] | None:
    """None for the identity, or (kind, stride) of the projection; raises ShapeError."""
    if shape == out:
        return None
    if kind_of(shape) != kind_of(out):
        raise ShapeError(
            f"the block turns {kind_of(shape)} {fmt_shape(shape)} into {kind_of(out)} {fmt_shape(out)}; "
            "a skip connection needs the block to keep the kind of input"
        )
    if kind_of(shape) == "tabular":
        return ("linear", 1)
    stride = _stride_for(shape[1:], out[1:])
    if stride is None:
        raise ShapeError(
            f"the block turns {fmt_shape(shape)} into {fmt_shape(out)}; "
            "no 1x1 projection with a stride matches that (keep the size, or divide it by a stride)"
        )
    return ("conv", stride)


def _infer(layers, shape: Shape, ctx) -> Shape:
    out = ctx.infer_layers(layers, shape)
    if out is None:
        raise Stop()
    _projection(shape, out)
    return out


def _weights(layers, shape: Shape, ctx) -> list[Weights]:
    block, out = ctx.weigh_layers(layers, shape)
    proj = _projection(shape, out)
    if proj is None:
        return block
    kind = proj[0]
    if kind == "linear":
        return [*block, dense(shape[0], out[0])]
    return [*block, conv(shape[0], out[0], (1,) * (len(shape) - 1), bias=False)]


def _build(layers, shape: Shape, ctx):
    from torch import nn

    from ._modules import Residual

    block, out = ctx.build_layers(layers, shape)
    proj = _projection(shape, out)
    module = None
    if proj is not None:
        kind, stride = proj
        if kind == "linear":
            module = nn.Linear(shape[0], out[0])
        elif len(shape) == 2:
            module = nn.Conv1d(shape[0], out[0], 1, stride=stride, bias=False)
        else:
            module = nn.Conv2d(shape[0], out[0], 1, stride=stride, bias=False)
    return Residual(block, module)


TECHNIQUES = [
    Technique(
        "residual",
        "layer",
        "Adds the block's input to its output (x + F(x)): gradients flow through the skip, so very deep nets train (ResNet).",
        None,
        _build,
        _infer,
        weights=_weights,
        extra={"container": True},
    ),
]

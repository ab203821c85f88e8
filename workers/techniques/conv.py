"""Convolutions and pooling. `padding: same` pads kernel // 2 on each side (the
output keeps the input's size for odd kernels at stride 1; stride s divides it
by s, rounding up); `valid` pads nothing."""

from __future__ import annotations

from typing import Literal

from .base import Int, Params, Shape, ShapeError, Technique, Weights, conv, fmt_shape, need_kind, no_weights
from .initialisers import LayerInit


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _check_fits(kernel: int, spatial: tuple[int, ...], what: str = "kernel") -> None:
    if any(kernel > s for s in spatial):
        size = "×".join(str(s) for s in spatial)
        raise ShapeError(f"{what} {kernel} is larger than the input's size {size} at this layer", what)


class Conv1dParams(Params):
    channels: Int(1, 1024)
    kernel: Int(1, 15) = 3
    stride: Int(1, 4) = 1
    padding: Literal["same", "valid"] = "same"
    bias: bool = True
    init: LayerInit | None = None  # None: the model's init


class Conv2dParams(Params):
    channels: Int(1, 1024)
    kernel: Int(1, 7) = 3
    stride: Int(1, 4) = 1
    padding: Literal["same", "valid"] = "same"
    bias: bool = True
    init: LayerInit | None = None  # None: the model's init


class SeparableConv2dParams(Conv2dParams):
    multiplier: Int(1, 4) = 1


def _pad(p) -> int:
    return p.kernel // 2 if p.padding == "same" else 0


def _conv1d_infer(p: Conv1dParams, shape: Shape, ctx) -> Shape:
    need_kind(shape, ("sequence",), "conv1d", ctx)
    _check_fits(p.kernel, shape[1:])
    return (p.channels, _out(shape[1], p.kernel, p.stride, _pad(p)))


def _conv2d_infer(p: Conv2dParams, shape: Shape, ctx) -> Shape:
    need_kind(shape, ("image",), "conv2d", ctx)
    _check_fits(p.kernel, shape[1:])
    pad = _pad(p)
    return (p.channels, _out(shape[1], p.kernel, p.stride, pad), _out(shape[2], p.kernel, p.stride, pad))


def _conv1d_weights(p: Conv1dParams, shape: Shape, ctx) -> list[Weights]:
    return [conv(shape[0], p.channels, (p.kernel,), bias=p.bias)]


def _conv2d_weights(p: Conv2dParams, shape: Shape, ctx) -> list[Weights]:
    return [conv(shape[0], p.channels, (p.kernel, p.kernel), bias=p.bias)]


def _separable_weights(p: SeparableConv2dParams, shape: Shape, ctx) -> list[Weights]:
    mid = shape[0] * p.multiplier
    return [
        conv(shape[0], mid, (p.kernel, p.kernel), bias=False, groups=shape[0]),
        conv(mid, p.channels, (1, 1), bias=p.bias),
    ]


def _conv1d_build(p: Conv1dParams, shape: Shape, ctx):
    from torch import nn

    return nn.Conv1d(shape[0], p.channels, p.kernel, stride=p.stride, padding=_pad(p), bias=p.bias)


def _conv2d_build(p: Conv2dParams, shape: Shape, ctx):
    from torch import nn

    return nn.Conv2d(shape[0], p.channels, p.kernel, stride=p.stride, padding=_pad(p), bias=p.bias)


def _separable_build(p: SeparableConv2dParams, shape: Shape, ctx):
    from ._modules import SeparableConv2d

    return SeparableConv2d(shape[0], p.channels, p.kernel, p.stride, _pad(p), p.multiplier, p.bias)


class PoolParams(Params):
    shorthand = "kernel"
    kernel: Int(1, 8) = 2
    stride: Int(1, 8) | None = None  # None: the kernel size (non-overlapping windows)


def _pool_technique(name: str, mode: str, kinds: tuple[str, ...]) -> Technique:
    def infer(p: PoolParams, shape: Shape, ctx) -> Shape:
        need_kind(shape, kinds, name, ctx)
        _check_fits(p.kernel, shape[1:])
        stride = p.stride or p.kernel
        return (shape[0], *(_out(s, p.kernel, stride, 0) for s in shape[1:]))

    def build(p: PoolParams, shape: Shape, ctx):
        from torch import nn

        stride = p.stride or p.kernel
        cls = {
            ("max", 2): nn.MaxPool1d,
            ("max", 3): nn.MaxPool2d,
            ("avg", 2): nn.AvgPool1d,
            ("avg", 3): nn.AvgPool2d,
        }[(mode, len(shape))]
        return cls(p.kernel, stride=stride)

    where = (
        "over time (1d) or space (2d), chosen from the input" if len(kinds) == 2 else f"over {kinds[0]} input"
    )
    why = {
        "max": f"Keeps the strongest response in each window {where}: downsampling with some shift invariance.",
        "avg": f"Averages each window {where}: smooth downsampling.",
    }[mode]
    return Technique(name, "layer", why, PoolParams, build, infer, weights=no_weights)


class GlobalPoolParams(Params):
    pass


def _global_technique(name: str, mode: str) -> Technique:
    def infer(p: GlobalPoolParams, shape: Shape, ctx) -> Shape:
        need_kind(shape, ("sequence", "image"), name, ctx)
        return (shape[0],)

    def build(p: GlobalPoolParams, shape: Shape, ctx):
        from ._modules import GlobalPool

        return GlobalPool(mode)

    why = {
        "avg": "Averages each channel over all positions: a vector per channel, no parameters, any input size.",
        "max": "Takes each channel's maximum over all positions.",
    }[mode]
    return Technique(name, "layer", why, GlobalPoolParams, build, infer, weights=no_weights)


TECHNIQUES = [
    Technique(
        "conv1d",
        "layer",
        "1-d convolution over time: local patterns in sequences, weights shared along time.",
        Conv1dParams,
        _conv1d_build,
        _conv1d_infer,
        weights=_conv1d_weights,
    ),
    Technique(
        "conv2d",
        "layer",
        "2-d convolution: local image features with weights shared across positions.",
        Conv2dParams,
        _conv2d_build,
        _conv2d_infer,
        weights=_conv2d_weights,
    ),
    Technique(
        "separable_conv2d",
        "layer",
        "Depthwise then pointwise (1x1) convolution: nearly a conv2d's power for a fraction of the parameters (MobileNet/Xception).",
        SeparableConv2dParams,
        _separable_build,
        _conv2d_infer,
        weights=_separable_weights,
    ),
    _pool_technique("max_pool", "max", ("sequence", "image")),
    _pool_technique("avg_pool", "avg", ("sequence", "image")),
    _pool_technique("max_pool1d", "max", ("sequence",)),
    _pool_technique("max_pool2d", "max", ("image",)),
    _pool_technique("avg_pool1d", "avg", ("sequence",)),
    _pool_technique("avg_pool2d", "avg", ("image",)),
    _global_technique("global_avg_pool", "avg"),
    _global_technique("global_max_pool", "max"),
]

__all__ = ["TECHNIQUES", "fmt_shape"]

"""Attention pooling: a learned weighted average over the positions of a sequence
([C,T] -> [C]) or an image ([C,H,W] -> [C]). Each head scores every position with
a learned query (one score per head), takes the softmax over positions, and
averages its share of the channels with those weights; where global average
pooling weighs every position alike, this learns which positions matter."""

from __future__ import annotations

from .base import Int, Params, Shape, ShapeError, Technique, Weights, need_kind


class AttentionPoolParams(Params):
    heads: Int(1, 16) = 1


def _infer(p: AttentionPoolParams, shape: Shape, ctx) -> Shape:
    need_kind(shape, ("sequence", "image"), "attention_pool", ctx)
    if shape[0] % p.heads:
        raise ShapeError(f"{shape[0]} channels do not split into {p.heads} heads", "heads")
    return (shape[0],)


def _weights(p: AttentionPoolParams, shape: Shape, ctx) -> list[Weights]:
    # The queries: one score per head from every channel at a position (no bias: a shift of
    # every score alike changes no softmax).
    return [Weights(shape[0] * p.heads)]


def _build(p: AttentionPoolParams, shape: Shape, ctx):
    from ._pooling import AttentionPool

    return AttentionPool(shape[0], p.heads)


TECHNIQUES = [
    Technique(
        "attention_pool",
        "layer",
        "Learned weighted average over positions (softmax of a learned query's scores): pools what matters, not everything alike.",
        AttentionPoolParams,
        _build,
        _infer,
        weights=_weights,
    ),
]

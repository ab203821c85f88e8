"""Embeddings: learnt vectors for discrete input. On a text dataset (token ids [T]) the
layer gives a sequence [dim, T] for LSTM/GRU, conv1d or transformer_encoder, and marks the
padding so that attention, recurrence and pooling read real tokens only. On a table with
categorical columns it gives the numeric columns followed by one vector per categorical
column ([numeric + sum of dims]). It reads the dataset's input, so it is the first layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Int, Params, Shape, ShapeError, Technique, Weights

MAX_DIM = 1024


class EmbeddingParams(Params):
    shorthand = "dim"
    dim: Int(1, MAX_DIM) = 32
    # Per categorical column: its vector's size (columns not named get `dim`).
    dims: dict[str, Int(1, MAX_DIM)] | None = None


def _inputs(shape: Shape, ctx) -> tuple[str, Mapping[str, Any]]:
    inputs = ctx.inputs or {}
    if not ctx.at_input:
        raise ShapeError("must be the first layer: it reads the dataset's token ids or category codes")
    if inputs.get("kind") == "tokens":
        return "tokens", inputs
    if inputs.get("categorical"):
        return "categorical", inputs
    raise ShapeError(
        f"needs text (token ids) or categorical columns; dataset '{ctx.dataset}' has plain numbers"
    )


def _columns(p: EmbeddingParams, inputs: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """(feature index, codes including unknown, vector size) per categorical column."""
    columns = inputs["categorical"]
    unknown = sorted(set(p.dims or {}) - set(columns))
    if unknown:
        raise ShapeError(
            f"{', '.join(repr(c) for c in unknown)} is not a categorical column; the dataset's are "
            f"{', '.join(repr(c) for c in columns)}",
            "dims",
        )
    return [
        (int(c["index"]), len(c["categories"]) + 1, (p.dims or {}).get(name, p.dim))
        for name, c in columns.items()
    ]


def _infer(p: EmbeddingParams, shape: Shape, ctx) -> Shape:
    kind, inputs = _inputs(shape, ctx)
    if kind == "tokens":
        return (p.dim, shape[0])
    columns = _columns(p, inputs)
    return (shape[0] - len(columns) + sum(dim for _, _, dim in columns),)


def _weights(p: EmbeddingParams, shape: Shape, ctx) -> list[Weights]:
    kind, inputs = _inputs(shape, ctx)
    if kind == "tokens":
        return [Weights(int(inputs["vocab_size"]) * p.dim)]
    return [Weights(card * dim) for _, card, dim in _columns(p, inputs)]


def _build(p: EmbeddingParams, shape: Shape, ctx):
    from ._modules import CategoricalEmbedding, TokenEmbedding

    inputs = ctx.inputs or {}
    if inputs.get("kind") == "tokens":
        return TokenEmbedding(int(inputs["vocab_size"]), p.dim, int(inputs.get("pad_id", 0)))
    return CategoricalEmbedding(shape[0], _columns(p, inputs))


TECHNIQUES = [
    Technique(
        "embedding",
        "layer",
        "A learnt vector per token or category: words become points whose distances the network "
        "learns; padding is masked for attention, recurrence and pooling.",
        EmbeddingParams,
        _build,
        _infer,
        weights=_weights,
    ),
]

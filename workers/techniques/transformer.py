"""Transformer encoder: tokens -> depth x (pre-norm multi-head self-attention +
MLP) -> final LayerNorm -> pooled vector. Tokens are image patches (patch x patch,
linearly embedded), timesteps for sequences, or one token per feature for
tabular data; images and sequences get learned position embeddings."""

from __future__ import annotations

from typing import Literal

from .base import Float, Int, Params, Shape, ShapeError, Technique, Weights, conv, dense, kind_of, norm

MAX_TOKENS = 1024


class TransformerParams(Params):
    d_model: Int(8, 1024) = 64
    heads: Int(1, 16) = 4
    depth: Int(1, 12) = 2
    mlp_ratio: Float(ge=1.0, le=8.0) = 2.0
    dropout: Float(ge=0.0, le=0.5) = 0.0
    patch: Int(1, 16) = 4
    pool: Literal["mean", "cls", "none"] = "mean"

    def problems(self) -> list[tuple[str, str]]:
        if self.d_model % self.heads:
            return [("heads", f"must divide d_model ({self.d_model})")]
        return []


def _tokens(p: TransformerParams, shape: Shape) -> int:
    kind = kind_of(shape)
    if kind == "tabular":
        n = shape[0]
    elif kind == "sequence":
        n = shape[1]
    elif kind == "image":
        if p.patch > shape[1] or p.patch > shape[2]:
            raise ShapeError(f"patch {p.patch} is larger than the {shape[1]}×{shape[2]} image", "patch")
        n = (shape[1] // p.patch) * (shape[2] // p.patch)
    else:
        raise ShapeError(f"needs tabular, sequence or image input, got {len(shape)}-d")
    if n > MAX_TOKENS:
        hint = " (use a larger patch)" if kind == "image" else ""
        raise ShapeError(f"makes {n} tokens, more than {MAX_TOKENS}{hint}")
    return n


def _infer(p: TransformerParams, shape: Shape, ctx) -> Shape:
    n = _tokens(p, shape)
    return (p.d_model, n) if p.pool == "none" else (p.d_model,)


def _mlp_width(p: TransformerParams) -> int:
    """Hidden units of each block's MLP."""
    return max(1, int(round(p.d_model * p.mlp_ratio)))


def _weights(p: TransformerParams, shape: Shape, ctx) -> list[Weights]:
    n, d = _tokens(p, shape), p.d_model
    kind = kind_of(shape)
    if kind == "tabular":
        out = [Weights(2 * shape[0] * d)]  # a scale and a shift per feature
    elif kind == "sequence":
        out = [dense(shape[0], d)]
    else:
        out = [conv(shape[0], d, (p.patch, p.patch))]
    extra = 1 if p.pool == "cls" else 0
    if extra:
        out.append(Weights(d))
    if kind != "tabular":
        out.append(Weights((n + extra) * d))  # learned positions
    hidden = _mlp_width(p)
    block = [
        norm(d),
        dense(d, d),
        dense(d, d),
        dense(d, d),
        dense(d, d),
        norm(d),
        dense(d, hidden),
        dense(hidden, d),
    ]
    return [*out, *block * p.depth, norm(d)]


def _build(p: TransformerParams, shape: Shape, ctx):
    from ._modules import FeatureTokens, PatchTokens, StepTokens, TransformerEncoder

    n = _tokens(p, shape)
    kind = kind_of(shape)
    if kind == "tabular":
        tokens = FeatureTokens(shape[0], p.d_model)
    elif kind == "sequence":
        tokens = StepTokens(shape[0], p.d_model)
    else:
        tokens = PatchTokens(shape[0], p.d_model, p.patch)
    return TransformerEncoder(
        tokens, n, p.d_model, p.heads, p.depth, _mlp_width(p), p.dropout, p.pool, positional=kind != "tabular"
    )


TECHNIQUES = [
    Technique(
        "transformer_encoder",
        "layer",
        "Self-attention lets every token look at every other; pre-norm blocks train stably at depth (ViT for images).",
        TransformerParams,
        _build,
        _infer,
        weights=_weights,
    ),
]

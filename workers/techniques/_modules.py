"""The torch modules the builders assemble. Imported only by builders (never by the
registry), so that the schema stays importable without torch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Slot(nn.Module):
    """Holds one layer under its technique's name, so that parameters read
    `layers.3.conv2d.weight` and per-layer diagnostics name the technique."""

    def __init__(self, name: str, module: nn.Module):
        super().__init__()
        self.technique = name
        setattr(self, name, module)

    @property
    def inner(self) -> nn.Module:
        return getattr(self, self.technique)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        inner = getattr(self, self.technique)
        if mask is not None and getattr(inner, "takes_mask", False):
            return inner(x, mask)
        return inner(x)


def carry_mask(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """After a layer: a sequence output [N,C,T] of the mask's length keeps the padding mask
    ([N,T], True for a real token) and gets zeros at the padded steps, so that no later
    convolution, pooling or attention reads anything but zeros there, whatever the amount of
    padding; any other output ends the mask."""
    if mask is None or x.dim() != 3 or x.shape[2] != mask.shape[1]:
        return x, None
    return x * mask.unsqueeze(1).to(x.dtype), mask


def dropout_noise(
    shape: torch.Size | tuple[int, ...],
    p: float,
    *,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A dropout mask scaled to keep the mean: 0 with probability `p`, else 1/(1-p).

    Drawn as torch's CPU kernel draws it (`bernoulli_`, then the division), from `generator`
    (None: torch's default generator of the device)."""
    return torch.empty(shape, dtype=dtype, device=device).bernoulli_(1 - p, generator=generator).div_(1 - p)


class Dropout(nn.Dropout):
    """nn.Dropout whose mask is `dropout_noise` on every device.

    On the CPU this is what torch does itself (the same numbers); CUDA's fused kernel draws
    another stream, which no one can reproduce outside it. The packed trainer
    (`workers.training.packed`) draws each member's masks with `dropout_noise` from the
    member's own generator, in the same order and shapes, so that a packed entry drops the
    same units as it would alone, on either device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.numel() == 0:
            return x
        return x * dropout_noise(x.shape, self.p, dtype=x.dtype, device=x.device)


class TokenEmbedding(nn.Module):
    """Token ids [N,T] (floats holding integers, as the dataset tensors are) -> vectors
    [N,dim,T]; the padding id gets a zero vector and marks the padding mask."""

    makes_mask = True

    def __init__(self, vocab: int, dim: int, pad_id: int):
        super().__init__()
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab, dim, padding_idx=pad_id)

    def padding_mask(self, x: torch.Tensor) -> torch.Tensor:
        mask = x != self.pad_id
        mask[:, 0] = True  # an all-padding row still has one step to read (uploads refuse empty texts)
        return mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.long()).transpose(1, 2)


class CategoricalEmbedding(nn.Module):
    """Tabular rows [N,F] whose categorical columns hold category codes -> the numeric
    columns (in feature order) followed by one learnt vector per categorical column."""

    def __init__(self, n_features: int, columns: list[tuple[int, int, int]]):
        super().__init__()
        categorical = {index for index, _, _ in columns}
        self.register_buffer(
            "numeric", torch.tensor([i for i in range(n_features) if i not in categorical], dtype=torch.long)
        )
        self.indices = [index for index, _, _ in columns]
        self.cardinalities = [card for _, card, _ in columns]
        self.embeddings = nn.ModuleList(nn.Embedding(card, dim) for _, card, dim in columns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x.index_select(1, self.numeric)]
        for index, card, embedding in zip(self.indices, self.cardinalities, self.embeddings, strict=True):
            # Codes come from the manifest's categories; 0 is "unknown".
            parts.append(embedding(x[:, index].long().clamp(0, card - 1)))
        return torch.cat(parts, dim=1)


class FlattenLinear(nn.Linear):
    """A linear layer that flattens a [C,T] or [C,H,W] input first (the implicit flatten)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.flatten(1)
        return super().forward(x)


class SeparableConv2d(nn.Module):
    """Depthwise (one filter per channel) then pointwise (1x1) convolution."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, padding: int, multiplier: int, bias: bool
    ):
        super().__init__()
        mid = in_ch * multiplier
        self.depthwise = nn.Conv2d(
            in_ch, mid, kernel, stride=stride, padding=padding, groups=in_ch, bias=False
        )
        self.pointwise = nn.Conv2d(mid, out_ch, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels at every position of a [N,C,...] tensor."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


class Recurrent(nn.Module):
    """LSTM or GRU on [N,C,T] input; returns the last hidden state [N,H] or the
    whole sequence [N,H,T]."""

    takes_mask = True

    def __init__(self, rnn: nn.Module, return_sequence: bool):
        super().__init__()
        self.rnn = rnn
        self.return_sequence = return_sequence

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            return self._forward_packed(x, mask)
        out, _ = self.rnn(x.transpose(1, 2))  # [N,T,C]: time-major order the rnn wants
        if self.return_sequence:
            return out.transpose(1, 2)
        return out[:, -1, :]

    def _forward_packed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Packed by length, the rnn never steps over padding: its last state is the last
        # real token's (and a backward direction starts there), however long the padding.
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        t = x.shape[2]
        lengths = mask.sum(dim=1).clamp(min=1)
        packed = pack_padded_sequence(
            x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=t)
        if self.return_sequence:
            return out.transpose(1, 2)
        return out[torch.arange(out.shape[0], device=out.device), lengths - 1]


class GlobalPool(nn.Module):
    takes_mask = True

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:  # a sequence's real steps only
            m = mask.unsqueeze(1)
            if self.mode == "avg":
                return (x * m).sum(dim=2) / m.sum(dim=2).clamp(min=1)
            return x.masked_fill(~m, float("-inf")).amax(dim=2)
        flat = x.flatten(2)
        return flat.mean(dim=2) if self.mode == "avg" else flat.amax(dim=2)


class Residual(nn.Module):
    """y = block(x) + skip(x); skip is the identity, or a 1x1 projection (with the
    block's stride) when the block changes channels or resolution."""

    takes_mask = True

    def __init__(self, block: nn.ModuleList, projection: nn.Module | None):
        super().__init__()
        self.block = block
        self.projection = projection

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        skip = x if self.projection is None else self.projection(x)
        inner = mask
        for layer in self.block:
            x = layer(x, inner)
            x, inner = carry_mask(x, inner)
        return x + skip


class SelfAttention(nn.Module):
    """Multi-head self-attention with plain Linear projections (so LoRA can wrap them)."""

    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n, t, d = x.shape

        def split(z: torch.Tensor) -> torch.Tensor:
            return z.view(n, t, self.heads, d // self.heads).transpose(1, 2)

        p = self.dropout if self.training else 0.0
        keys = None if mask is None else mask[:, None, None, :]  # no token attends to padding
        y = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=keys, dropout_p=p
        )
        return self.out(y.transpose(1, 2).reshape(n, t, d))


class EncoderBlock(nn.Module):
    """Pre-norm block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, hidden)
        self.fc2 = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.drop(self.fc2(self.drop(F.gelu(self.fc1(self.norm2(x))))))


class FeatureTokens(nn.Module):
    """Tabular input: one token per feature, x_i * w_i + b_i (feature tokenizer)."""

    def __init__(self, features: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(features, d_model))
        self.bias = nn.Parameter(torch.zeros(features, d_model))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias


class StepTokens(nn.Module):
    """Sequence input [N,C,T]: one token per timestep."""

    def __init__(self, channels: int, d_model: int):
        super().__init__()
        self.proj = nn.Linear(channels, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.transpose(1, 2))


class PatchTokens(nn.Module):
    """Image input [N,C,H,W]: non-overlapping patch x patch squares, linearly embedded."""

    def __init__(self, channels: int, d_model: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, d_model, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class TransformerEncoder(nn.Module):
    def __init__(
        self,
        tokens: nn.Module,
        n_tokens: int,
        d_model: int,
        heads: int,
        depth: int,
        hidden: int,
        dropout: float,
        pool: str,
        positional: bool,
    ):
        super().__init__()
        self.tokens = tokens
        self.pool = pool
        extra = 1 if pool == "cls" else 0
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pool == "cls" else None
        self.position = nn.Parameter(torch.zeros(1, n_tokens + extra, d_model)) if positional else None
        if self.position is not None:
            nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, heads, hidden, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)

    takes_mask = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        z = self.tokens(x)
        if self.cls is not None:
            z = torch.cat([self.cls.expand(z.shape[0], -1, -1), z], dim=1)
            if mask is not None:
                mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        if self.position is not None:
            z = z + self.position
        for block in self.blocks:
            z = block(z, mask)
        z = self.norm(z)
        if self.pool == "cls":
            return z[:, 0]
        if self.pool == "mean":
            if mask is not None:  # the real tokens' mean
                m = mask.unsqueeze(2).to(z.dtype)
                return (z * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
            return z.mean(dim=1)
        return z.transpose(1, 2)  # tokens kept: [N, d_model, tokens]

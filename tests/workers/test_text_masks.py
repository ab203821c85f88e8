"""Padding never changes what a text model computes: the same sentence gives the same
output however much padding follows it (a model built for a longer maximum length, with
the same weights), and whatever its neighbours in the batch."""

from __future__ import annotations

import pytest
import torch

from workers.build import build_model
from workers.spec import parse_config

torch.set_num_threads(1)

VOCAB = 40
SHORT, LONG = 12, 30


def inputs(length: int) -> dict:
    return {"kind": "tokens", "vocab_size": VOCAB, "max_length": length, "pad_id": 0}


MODELS = {
    "lstm": ["embedding: 8", "lstm: 6", "linear: auto"],
    "bidirectional_gru_sequence": [
        "embedding: 8",
        "gru: {hidden: 5, bidirectional: true, output: sequence}",
        "global_avg_pool",
        "linear: auto",
    ],
    "conv1d_max": [
        "embedding: 8",
        "conv1d: {channels: 6, kernel: 5}",
        "relu",
        "conv1d: {channels: 6}",
        "global_max_pool",
        "linear: auto",
    ],
    "residual_conv1d_avg": [
        "embedding: 8",
        "residual: [conv1d: {channels: 8}, relu, conv1d: {channels: 8}]",
        "global_avg_pool",
        "linear: auto",
    ],
    "transformer_mean": [
        "embedding: 16",
        "transformer_encoder: {d_model: 16, heads: 2, depth: 2}",
        "linear: auto",
    ],
    "transformer_cls": [
        "embedding: 16",
        "transformer_encoder: {d_model: 16, heads: 4, depth: 1, pool: cls}",
        "linear: auto",
    ],
    "transformer_tokens": [
        "embedding: 16",
        "transformer_encoder: {d_model: 16, heads: 2, depth: 1, pool: none}",
        "global_max_pool",
        "linear: auto",
    ],
}


def config(layers: list[str]):
    return parse_config("version: 1\nmodel:\n  layers:\n" + "".join(f"    - {x}\n" for x in layers))


def padded(rows: list[list[int]], length: int) -> torch.Tensor:
    out = torch.zeros(len(rows), length)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return out


def same_weights(short: torch.nn.Module, long: torch.nn.Module) -> None:
    """The long model takes the short one's weights; learned positions beyond SHORT stay its own."""
    state = long.state_dict()
    for name, value in short.state_dict().items():
        target = state[name]
        if target.shape == value.shape:
            state[name] = value
        else:  # the transformer's position table: the first SHORT positions are shared
            state[name] = torch.cat([value, target[:, value.shape[1] :]], dim=1)
    long.load_state_dict(state)


SENTENCES = [[5, 9, 3], [7, 7, 2, 30, 11, 4, 8, 2], [12], [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]]


@pytest.mark.parametrize("name", MODELS)
def test_output_does_not_change_with_extra_padding(name):
    cfg = config(MODELS[name])
    short = build_model(cfg, (SHORT,), 3, inputs=inputs(SHORT)).eval()
    long = build_model(cfg, (LONG,), 3, inputs=inputs(LONG)).eval()
    same_weights(short, long)
    with torch.no_grad():
        a = short(padded(SENTENCES, SHORT))
        b = long(padded(SENTENCES, LONG))
        alone = torch.cat([short(padded([s], SHORT)) for s in SENTENCES])
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, alone, rtol=1e-5, atol=1e-5)


def test_without_masks_padding_would_change_the_output():
    """The check above can fail: reading the padding (here, a mean over all steps) changes
    the answer with the amount of padding."""
    short = torch.nn.Embedding(VOCAB, 4, padding_idx=0)
    ids = padded(SENTENCES[:1], SHORT).long()
    longer = padded(SENTENCES[:1], LONG).long()
    assert not torch.allclose(short(ids).mean(1), short(longer).mean(1))


def test_gradients_reach_no_padding_embedding():
    cfg = config(MODELS["transformer_mean"])
    model = build_model(cfg, (SHORT,), 3, inputs=inputs(SHORT))
    model(padded(SENTENCES, SHORT)).sum().backward()
    table = model.layers[0].inner.embedding.weight
    assert torch.count_nonzero(table.grad[0]) == 0
    assert torch.count_nonzero(table.grad[5]) > 0

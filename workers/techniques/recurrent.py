"""Recurrent layers for sequence input [C,T]: LSTM and GRU read the T timesteps
of C channels and return the last hidden state ([H], or [2H] bidirectional) or
the whole sequence of hidden states ([H,T])."""

from __future__ import annotations

from typing import Literal

from .base import Float, Int, Params, Shape, Technique, Weights, need_kind


class RecurrentParams(Params):
    shorthand = "hidden"
    hidden: Int(1, 1024)
    layers: Int(1, 4) = 1
    bidirectional: bool = False
    dropout: Float(ge=0.0, le=0.9) = 0.0
    output: Literal["last", "sequence"] = "last"

    def problems(self) -> list[tuple[str, str]]:
        if self.dropout > 0 and self.layers == 1:
            return [("dropout", "applies between stacked layers; needs layers >= 2")]
        return []


def _technique(name: str, why: str) -> Technique:
    def infer(p: RecurrentParams, shape: Shape, ctx) -> Shape:
        need_kind(shape, ("sequence",), name, ctx)
        width = p.hidden * (2 if p.bidirectional else 1)
        return (width, shape[1]) if p.output == "sequence" else (width,)

    def weights(p: RecurrentParams, shape: Shape, ctx) -> list[Weights]:
        # Per layer and direction: input and hidden weights of every gate, and two biases.
        gates = (4 if name == "lstm" else 3) * p.hidden
        directions = 2 if p.bidirectional else 1
        n = 0
        for layer in range(p.layers):
            n_in = shape[0] if layer == 0 else p.hidden * directions
            n += directions * (gates * n_in + gates * p.hidden + 2 * gates)
        return [Weights(n)]

    def build(p: RecurrentParams, shape: Shape, ctx):
        from torch import nn

        from ._modules import Recurrent

        cls = nn.LSTM if name == "lstm" else nn.GRU
        rnn = cls(
            shape[0],
            p.hidden,
            num_layers=p.layers,
            batch_first=True,
            bidirectional=p.bidirectional,
            dropout=p.dropout,
        )
        return Recurrent(rnn, p.output == "sequence")

    return Technique(name, "layer", why, RecurrentParams, build, infer, weights=weights)


TECHNIQUES = [
    _technique(
        "lstm",
        "Long short-term memory: gated recurrence that carries information across long sequences; the classic time-series network.",
    ),
    _technique("gru", "Gated recurrent unit: an LSTM with fewer gates and parameters, often as good."),
]

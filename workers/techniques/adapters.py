"""Adapters for fine-tuning. LoRA adds a trainable low-rank update B·A (scaled by
alpha/rank) beside each frozen target weight; B starts at zero, so the adapted
model starts exactly equal to the pre-trained one. The torch side is workers/lora.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Float, Int, Params, Technique


class LoRAParams(Params):
    name: Literal["lora"] = "lora"
    rank: Int(1, 64) = 4
    alpha: Float(gt=0.0, le=256.0) = 8.0
    dropout: Float(ge=0.0, le=0.5) = 0.0
    targets: list[Literal["linear", "conv2d"]] = Field(
        default_factory=lambda: ["linear"], min_length=1, max_length=2
    )


TECHNIQUES = [
    Technique(
        "lora",
        "adapter",
        "Low-rank adapters: fine-tune a few thousand parameters instead of the whole network, and merge them back for inference.",
        LoRAParams,
    ),
]

"""Many entries of one architecture trained together: the interface of the packed engine.

A stand-in that trains the members one after another with `train()`, so that the worker's
device pool can be built and tested against this interface; the engine that trains them in
one stacked, vmapped step replaces this module with the same signatures.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.protocol import Budget, EpochRecord
from workers.data import TrainData
from workers.spec import ModelConfig
from workers.training.result import TrainResult
from workers.training.trainer import train


def pack_signature(config: ModelConfig, data: TrainData) -> str | None:
    """The architecture and input shape as one string; None: the entry trains alone."""
    if config.pretrain is not None or config.finetune is not None:
        return None
    canonical = json.dumps(
        {
            "model": config.model.model_dump(mode="json"),
            "input_shape": list(data.input_shape),
            "n_outputs": data.n_outputs,
            "inputs": data.inputs,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class PackMember:
    config: ModelConfig
    budget: Budget
    on_epoch: Callable[[EpochRecord], None] | None = None
    should_stop: Callable[[], bool] | None = None


def train_packed(
    members: Sequence[PackMember], data: TrainData, *, device="cpu", weights_dir: Path | None = None
) -> list[TrainResult | BaseException]:
    """Each member's result, or the exception that ended it, in the members' order."""
    results: list[TrainResult | BaseException] = []
    for i, member in enumerate(members):
        try:
            results.append(
                train(
                    member.config,
                    data,
                    device=device,
                    on_epoch=member.on_epoch,
                    budget=member.budget,
                    should_stop=member.should_stop,
                    out_dir=Path(weights_dir) / str(i) if weights_dir is not None else None,
                )
            )
        except Exception as exc:  # one member's failure is its own
            results.append(exc)
    return results

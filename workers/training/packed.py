"""Training several models of one architecture together (issue 15, "Packing").

TEMPORARY: this is the packed engine's interface as a sequential loop over `train()`, so that
sweeps and ensembles (`workers.training.variants`) run before the engine lands; the packed
engine replaces this module whole, with the same signatures.

The members of one call share one wall clock, as they do when packed: a member's
`budget.seconds` counts from the call, not from its own start.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from common.protocol import Budget, EpochRecord
from workers.data import TrainData
from workers.spec import ModelConfig
from workers.training.result import TrainResult
from workers.training.trainer import train

# A member whose share of the clock is spent still starts, and stops after its first batch.
_SPENT = 1e-6


def pack_signature(config: ModelConfig, data: TrainData) -> str | None:
    """What members must share to train in one pack (the layers and the input); None: this
    config trains alone (pre-training, fine-tuning)."""
    if config.pretrain is not None or config.finetune is not None:
        return None
    layers = config.model.model_dump(mode="json")
    return json.dumps({"model": layers, "input": list(data.input_shape)}, sort_keys=True)


@dataclasses.dataclass
class PackMember:
    config: ModelConfig
    budget: Budget
    on_epoch: Callable[[EpochRecord], None] | None = None
    should_stop: Callable[[], bool] | None = None


def train_packed(
    members: list[PackMember],
    data: TrainData,
    *,
    device: str = "cpu",
    weights_dir: str | Path | None = None,
) -> list[TrainResult | BaseException]:
    """Train every member on `data`; each member's result, or the exception that ended it,
    in the members' order. One member's failure never stops the others."""
    start = time.perf_counter()
    out: list[TrainResult | BaseException] = []
    for i, member in enumerate(members):
        budget = member.budget
        if budget.seconds is not None:
            left = max(budget.seconds - (time.perf_counter() - start), _SPENT)
            budget = dataclasses.replace(budget, seconds=left)
        try:
            out.append(
                train(
                    member.config,
                    data,
                    device=device,
                    on_epoch=member.on_epoch,
                    budget=budget,
                    out_dir=Path(weights_dir) / f"member-{i}" if weights_dir is not None else None,
                    should_stop=member.should_stop,
                )
            )
        except Exception as exc:  # the member's outcome; the caller decides what it means
            out.append(exc)
    return out

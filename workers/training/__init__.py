"""The compute tier's trainer: a model config and in-memory arrays in, a `TrainResult` out.

    plan.py      the config resolved once into a typed plan per phase
    tensors.py   the dataset on the device for the whole run
    loop.py      the fit loop (forward, backward, step) and the epoch report
    stopping.py  the rules that end a phase: clock, cancel, epoch cap, early stopping
    divergence.py the rule that tells an exploded run from a slow one (losses, gradient norms)
    gradients.py per-layer gradient norms and clipping from the same fused norms
    outputs.py   weights (safetensors) and the predictions CSV
    result.py    TrainResult, stop reasons, the trainer's errors
    trainer.py   train(), which puts them together
    signature.py which entries can share one packed step (pack_signature)
    packed.py    train_packed(): many entries of one architecture in one vmapped step
    stack.py, stacked_optim.py, step_graphs.py  the packed step's networks, optimisers, CUDA graphs
    variants.py  train_entry(): any entry, its sweep's or ensemble's variants combined

The local runner is `python -m workers.local`.
"""

from workers.training.outputs import predictions_csv, save_weights
from workers.training.packed import PackMember, train_packed
from workers.training.plan import PhasePlan, TrainingPlan, plan_for
from workers.training.result import (
    BUDGET_EPOCHS,
    BUDGET_PARAMETERS,
    BUDGET_SECONDS,
    CANCELLED,
    COMPLETED,
    DIVERGED,
    EARLY_STOPPING,
    BudgetExceeded,
    TrainError,
    TrainResult,
)
from workers.training.signature import pack_signature
from workers.training.trainer import train
from workers.training.variants import train_entry

__all__ = [
    "BUDGET_EPOCHS",
    "BUDGET_PARAMETERS",
    "BUDGET_SECONDS",
    "CANCELLED",
    "COMPLETED",
    "DIVERGED",
    "EARLY_STOPPING",
    "BudgetExceeded",
    "PackMember",
    "PhasePlan",
    "TrainError",
    "TrainResult",
    "TrainingPlan",
    "plan_for",
    "pack_signature",
    "predictions_csv",
    "save_weights",
    "train",
    "train_packed",
    "train_entry",
]

"""What a run returns: `TrainResult`, why it stopped, and the trainer's errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from common.protocol import EpochRecord, VariantsReport

# Why a run stopped (TrainResult.stopped_reason).
COMPLETED = "completed"
EARLY_STOPPING = "early_stopping"
BUDGET_EPOCHS = "budget_epochs"
BUDGET_SECONDS = "budget_seconds"
BUDGET_PARAMETERS = "budget_parameters"
CANCELLED = "cancelled"
# The loss exploded after early stopping had kept a good epoch: the run predicts from that epoch.
DIVERGED = "diverged"


class TrainError(RuntimeError):
    """A run that cannot go on; the message is meant for the participant."""


class BudgetExceeded(TrainError):
    """The config asks for more than the competition's budget allows."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Stop:
    """Why a phase ended before its last epoch: one of the reasons above, and a sentence."""

    reason: str
    message: str


@dataclass
class TrainResult:
    task_type: str
    metric: str
    classes: list[str] | None
    test_ids: np.ndarray
    # Class labels (strings) for classification, numbers for regression; None when cancelled.
    predictions: np.ndarray | None
    # (n_test, n_classes) softmax probabilities in manifest class order (classification only).
    probabilities: np.ndarray | None
    history: list[EpochRecord] = field(default_factory=list)
    stopped_reason: str = COMPLETED
    stop_message: str = ""
    epochs_run: int = 0
    best_epoch: int | None = None
    val_metric: dict | None = None
    seconds: float = 0.0
    n_parameters: int = 0
    # Parameters the last phase trained (fewer than n_parameters when fine-tuning freezes or adapts).
    n_trainable: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    preprocessing: dict = field(default_factory=dict)
    # Sentences for the participant about how the run went (a precision fallback, an early stop).
    notes: list[str] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    weights_path: Path | None = None
    # An entry of several models (workers.training.variants): what each did and which predicts.
    # Then `history` holds every variant's epochs (each record with its `variant`) and
    # `epochs_run` counts them all.
    variants: VariantsReport | None = None

    def summary(self) -> dict:
        """JSON-ready summary (no arrays): what metrics.json holds."""
        return {
            "task_type": self.task_type,
            "metric": self.metric,
            "val_metric": self.val_metric,
            "stopped_reason": self.stopped_reason,
            "stop_message": self.stop_message,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 3),
            "n_parameters": self.n_parameters,
            "n_trainable": self.n_trainable,
            "device": self.device,
            "precision": self.precision,
            "notes": self.notes,
            "history": self.history,
            **({"variants": self.variants} if self.variants is not None else {}),
        }

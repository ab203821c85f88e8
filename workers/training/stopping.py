"""The rules that end a phase before its last epoch, kept apart from the loop that asks them.

Each rule answers a `Stop` (reason and message) or None. The loop asks the clock
and the cancel poll after every batch, the epoch cap before an epoch, and early
stopping after one; the rules themselves know nothing of models or tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from workers.training.plan import EarlyStopping
from workers.training.result import BUDGET_EPOCHS, BUDGET_SECONDS, CANCELLED, EARLY_STOPPING, Stop

# How often (seconds) the trainer asks `should_stop()` in the middle of an epoch:
# often enough to cancel promptly, rarely enough that a heartbeat over HTTP is cheap.
POLL_SECONDS = 2.0


class WallClock:
    """The budget's wall-clock seconds, counted from the start of the run, across its phases."""

    def __init__(self, seconds: float | None, start: float):
        self.seconds = seconds
        self.start = start
        self.deadline = start + seconds if seconds else math.inf

    def check(self, now: float) -> Stop | None:
        if now > self.deadline:
            return Stop(
                BUDGET_SECONDS,
                f"stopped after {now - self.start:.1f} s: the budget allows {self.seconds:g} s of training",
            )
        return None


class CancelPoll:
    """Asks `should_stop()` at most every `interval` seconds, or now when `force`d (an epoch's end)."""

    def __init__(self, should_stop: Callable[[], bool] | None, start: float, interval: float = POLL_SECONDS):
        self.should_stop = should_stop
        self.interval = interval
        self.next_poll = start + interval

    def check(self, now: float, *, force: bool = False) -> Stop | None:
        if self.should_stop is None or not (force or now >= self.next_poll):
            return None
        self.next_poll = now + self.interval
        if self.should_stop():
            return Stop(CANCELLED, "cancelled while training")
        return None


class EpochCap:
    """The budget's epochs, for each phase (pre-training, training) as validation checks it."""

    def __init__(self, max_epochs: int | None):
        self.max_epochs = max_epochs

    def check(self, phase_epochs: int, phase: str) -> Stop | None:
        if self.max_epochs is not None and phase_epochs >= self.max_epochs:
            return Stop(
                BUDGET_EPOCHS,
                f"stopped after {phase_epochs} {phase} epochs: the budget allows {self.max_epochs}",
            )
        return None


class EarlyStopper:
    """Tracks the best monitored value of a phase (the validation loss, lower is better, or
    the competition's metric in its own direction, named `name`); stops after `patience`
    epochs without an improvement of more than `min_delta`."""

    def __init__(self, rule: EarlyStopping, *, name: str = "val_loss", higher_is_better: bool = False):
        self.rule = rule
        self.name = name
        self.sign = -1.0 if higher_is_better else 1.0  # compared as a loss: lower is better
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def observe(self, epoch: int, value: float | None) -> bool:
        """Records an epoch's monitored value; True when it is the best so far (keep its weights).
        A value that is not a number (a metric undefined on these rows) never improves."""
        if value is None or not math.isfinite(value):
            self.bad_epochs += 1
            return False
        if self.best_value is None or self.sign * value < self.sign * self.best_value - self.rule.min_delta:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def check(self, epoch: int) -> Stop | None:
        if self.bad_epochs >= self.rule.patience:
            return Stop(
                EARLY_STOPPING,
                f"early stopping at epoch {epoch}: {self.name} did not improve for "
                f"{self.rule.patience} epochs (best at epoch {self.best_epoch})",
            )
        return None

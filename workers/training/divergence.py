"""Divergence: a run whose loss exploded, told apart from one that is merely learning slowly.

A loss that turns NaN is easy to see; one that explodes to 10^6 and then sits at chance
level is not: its ReLUs died, every gradient but the head's is zero, and the network
predicts one class for every row. It used to be reported `completed` and scored. This
rule looks at what the loop measures anyway, after each epoch:

- the largest batch loss of the epoch against where the phase started: the larger of the
  loss of a constant zero output on the same rows (log K for K classes, 1 for z-scored
  regression targets, whatever the loss function) and the phase's first batch loss (a
  deep net without normalisation may start far above chance; that is a bad start, not a
  divergence). A loss `LOSS_FACTOR` times above both has left the region where training
  makes progress;
- the global gradient norm (the epoch's per-layer means, combined), past `GRAD_NORM_LIMIT`;
- a train loss or gradient norm that is not finite.

The thresholds are far from anything a healthy run shows (docs/techniques.md gives the
margins measured on the example configs), so a slow or noisy run is never failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import nn

from workers.training.plan import PhasePlan
from workers.training.result import DIVERGED, Stop

LOSS_FACTOR = 20.0
GRAD_NORM_LIMIT = 1e6


def constant_output_loss(
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y: torch.Tensor, n_outputs: int
) -> float:
    """The loss of a network that outputs zeros for every row (the uniform distribution for
    classification, the training mean for z-scored regression targets): the chance level."""
    with torch.no_grad():
        zeros = torch.zeros((y.shape[0], n_outputs), device=y.device)
        return float(criterion(zeros, y))


def _has_norm_layer(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm | nn.LayerNorm) for m in model.modules())


class DivergenceGuard:
    """Asked after every epoch; answers a `Stop` with reason `diverged` and a message that
    says what to try, or None."""

    def __init__(self, *, constant_loss: float, plan: PhasePlan, model: nn.Module):
        self.constant_loss = max(constant_loss, 1e-6)
        self.plan = plan
        self.has_norm = _has_norm_layer(model)

    def hints(self) -> str:
        opt = self.plan.optimizer
        tries = [f"a lower learning rate (optimizer.lr is {opt.lr:g} with {opt.name})"]
        if self.plan.clip is None:
            tries.append("gradient clipping (optimizer.grad_clip: 1.0)")
        if not self.has_norm:
            tries.append("batchnorm layers")
        if getattr(self.plan.scheduler, "warmup_epochs", 0) == 0:
            tries.append("a warm-up (scheduler: warmup_cosine)")
        return "try " + ", ".join(tries[:-1]) + (" or " if len(tries) > 1 else "") + tries[-1]

    def check(
        self,
        *,
        epoch: int,
        train_loss: float,
        max_batch_loss: float,
        first_batch_loss: float,
        grad_norms: Mapping[str, float],
    ) -> Stop | None:
        where = f"at epoch {epoch} ({self.plan.phase})"
        start = (
            max(self.constant_loss, first_batch_loss)
            if math.isfinite(first_batch_loss)
            else self.constant_loss
        )
        grad = math.sqrt(sum(v * v for v in grad_norms.values())) if grad_norms else 0.0
        if not math.isfinite(train_loss) or not math.isfinite(max_batch_loss):
            bad = train_loss if not math.isfinite(train_loss) else max_batch_loss
            return Stop(DIVERGED, f"training diverged: the train loss is {bad} {where}; {self.hints()}")
        if max_batch_loss > LOSS_FACTOR * start:
            return Stop(
                DIVERGED,
                f"training diverged {where}: a batch loss reached {max_batch_loss:.4g}, "
                f"{max_batch_loss / start:.3g} times the {start:.3g} it started from "
                f"(gradient norm {grad:.3g}); {self.hints()}",
            )
        if not math.isfinite(grad) or grad > GRAD_NORM_LIMIT:
            return Stop(
                DIVERGED,
                f"training diverged {where}: the gradient norm reached {grad:.3g} "
                f"(the train loss is {train_loss:.4g}); {self.hints()}",
            )
        return None

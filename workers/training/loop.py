"""The fit loop: forward, backward, step, over batches indexed into device tensors.

The loop's policies live elsewhere: what a phase does comes from its `PhasePlan`,
when it stops from the rules in `stopping`, the gradient norms and clipping from
`gradients`. An epoch ends with one transfer to the host of all its numbers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from common.protocol import EpochRecord
from workers.build import build_optimizer, build_scheduler
from workers.lora import frozen_norms_to_eval
from workers.techniques.losses import build_loss
from workers.training.augment import BatchAugment, augment_for
from workers.training.divergence import DivergenceGuard, constant_output_loss
from workers.training.gradients import GradNormTracker
from workers.training.plan import PhasePlan
from workers.training.result import CANCELLED, DIVERGED, Stop, TrainError
from workers.training.stopping import CancelPoll, EarlyStopper, EpochCap, WallClock
from workers.training.tensors import DeviceTensors

EVAL_CHUNK = 4096  # rows per forward pass when predicting a whole split


def steps_per_epoch(n_rows: int, batch_size: int) -> tuple[int, int]:
    """The batch size used (at most the rows there are) and the batches of an epoch."""
    bs = max(1, min(batch_size, n_rows))
    steps = n_rows // bs
    # A last batch of one row would break BatchNorm; smaller remainders still train.
    if n_rows - steps * bs >= 2 or steps == 0:
        steps += 1
    return bs, steps


@dataclass(frozen=True)
class PhaseOutcome:
    best_epoch: int | None  # the early-stopping epoch whose weights the model holds now
    stop: Stop | None  # None: every epoch of the phase ran
    n_trainable: int


class Loop:
    """Trains the phases of one run (pre-training, then training) and keeps their epoch history.

    `metric` is a `datasets.metrics` metric, computed on the validation rows every epoch.
    """

    def __init__(
        self,
        *,
        device: torch.device,
        metric,
        precision: str,
        clock: WallClock,
        cancel: CancelPoll,
        epoch_cap: EpochCap,
        on_epoch: Callable[[EpochRecord], None] | None = None,
    ):
        self.device = device
        self.metric = metric
        self.precision = precision
        self.clock = clock
        self.cancel = cancel
        self.epoch_cap = epoch_cap
        self.on_epoch = on_epoch
        self.epochs_done = 0
        self.history: list[EpochRecord] = []

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def forward_all(self, model: nn.Module, X: torch.Tensor) -> torch.Tensor:
        model.eval()
        outs = []
        with self.autocast():
            for i in range(0, X.shape[0], EVAL_CHUNK):
                outs.append(model(X[i : i + EVAL_CHUNK]).float())
        return torch.cat(outs) if outs else torch.zeros((0,), device=self.device)

    def fit(self, model: nn.Module, tensors: DeviceTensors, plan: PhasePlan) -> PhaseOutcome:
        """Train `model` for up to `plan.epochs` epochs, reporting each one.

        A diverged phase (`divergence`) raises TrainError, unless early stopping kept a
        better epoch: then the model goes back to that epoch and the phase stops there."""
        dev = self.device
        X, Y = tensors.X_train, tensors.y_train
        criterion = build_loss(
            plan.loss, classification=tensors.classification, y_train=Y, n_classes=tensors.n_classes
        )
        n_out = tensors.n_classes if tensors.classification else 1
        guard = DivergenceGuard(
            constant_loss=constant_output_loss(criterion, Y, n_out), plan=plan, model=model
        )
        first_loss = None  # the phase's first batch loss: where this network started
        n = X.shape[0]
        bs, steps = steps_per_epoch(n, plan.batch_size)

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TrainError("nothing to train: every parameter is frozen")
        optimizer = build_optimizer(params, plan.optimizer)
        scheduler = build_scheduler(optimizer, plan.scheduler, steps, plan.epochs)
        clip = plan.clip
        tracker = GradNormTracker(model, params, dev, steps)
        have_val = tensors.has_validation
        early = None
        if plan.early_stopping is not None and have_val:
            on_metric = plan.early_stopping.monitor == "metric"
            early = EarlyStopper(
                plan.early_stopping,
                name=f"the validation {self.metric.name}" if on_metric else "val_loss",
                higher_is_better=on_metric and self.metric.higher_is_better,
            )
        augment = augment_for(plan.augment, tensors, dev)
        best_state = None

        gen = torch.Generator(device=dev)
        gen.manual_seed(plan.shuffle_seed)
        stop: Stop | None = None
        phase_epochs = 0

        for _ in range(plan.epochs):
            stop = self.epoch_cap.check(phase_epochs, plan.phase)
            if stop is not None:
                break
            t0 = time.perf_counter()
            model.train()
            frozen_norms_to_eval(model)
            tracker.reset()
            loss_sum = torch.zeros((), device=dev)
            loss_max = torch.zeros((), device=dev)
            perm = torch.randperm(n, generator=gen, device=dev)
            lr = optimizer.param_groups[0]["lr"]
            for s in range(steps):
                idx = perm[s * bs : (s + 1) * bs]
                xb = X.index_select(0, idx)
                yb = Y.index_select(0, idx)
                mixed = None
                if augment is not None:
                    xb, mixed = augment.apply(xb, yb)
                with self.autocast():
                    out = model(xb)
                loss = (
                    criterion(out.float(), yb)
                    if mixed is None
                    else BatchAugment.mixed_loss(out.float(), mixed)
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                tracker.step(clip)
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach()
                if first_loss is None:
                    first_loss = loss.detach().clone()
                torch.maximum(loss_max, loss.detach(), out=loss_max)
                now = time.perf_counter()
                stop = self.clock.check(now) or self.cancel.check(now)
                if stop is not None:
                    break
            if stop is not None and stop.reason == CANCELLED:
                break
            # An epoch the clock interrupted is still reported, marked partial.

            # Validation, then a single transfer of the epoch's numbers.
            parts = [
                (loss_sum / max(tracker.batches, 1)).reshape(1),
                loss_max.reshape(1),
                first_loss.reshape(1),
            ]
            val_out = None
            if have_val:
                val_out = self.forward_all(model, tensors.X_val)
                parts.append(criterion(val_out, tensors.y_val).reshape(1))
            parts.append(tracker.epoch_means())
            numbers = torch.cat(parts).tolist()
            train_loss, max_batch_loss, first_batch_loss = numbers[0], numbers[1], numbers[2]
            val_loss = numbers[3] if have_val else None
            norms = numbers[4:] if have_val else numbers[3:]
            diverged = guard.check(
                epoch=self.epochs_done + 1,
                train_loss=train_loss,
                max_batch_loss=max_batch_loss,
                first_batch_loss=first_batch_loss,
                grad_norms=dict(zip(tracker.layers, norms, strict=True)),
            )
            val_metric = None
            if val_out is not None and diverged is None:
                val_metric = {"name": self.metric.name, "value": self.metric_value(val_out, tensors)}
            self.epochs_done += 1
            phase_epochs += 1
            record: EpochRecord = {
                "phase": plan.phase,
                "epoch": self.epochs_done,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_metric": val_metric,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
                "grad_norms": dict(zip(tracker.layers, norms, strict=True)),
            }
            if stop is not None:
                record["partial"] = True
            self.history.append(record)
            if self.on_epoch is not None:
                self.on_epoch(record)
            if diverged is not None:
                if best_state is None:
                    raise TrainError(diverged.message)
                stop = Stop(
                    DIVERGED,
                    f"{diverged.message}. Training stopped early: the predictions come from epoch "
                    f"{early.best_epoch}, the best before it",
                )
                break
            if stop is not None:
                break

            if early is not None:
                watched = val_metric["value"] if plan.early_stopping.monitor == "metric" else val_loss
                if early.observe(self.epochs_done, watched):
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                stop = early.check(self.epochs_done)
                if stop is not None:
                    break
            # Asked between epochs too, so a short epoch still notices a cancel or the deadline.
            now = time.perf_counter()
            stop = self.clock.check(now) or self.cancel.check(now, force=True)
            if stop is not None:
                break

        # With early stopping the result is the best validation epoch's model,
        # whether the run stopped early or used up its epochs.
        if best_state is not None and (stop is None or stop.reason != CANCELLED):
            model.load_state_dict(best_state)
        return PhaseOutcome(
            best_epoch=early.best_epoch if early is not None else None,
            stop=stop,
            n_trainable=sum(p.numel() for p in params),
        )

    def metric_value(self, out: torch.Tensor, tensors: DeviceTensors) -> float:
        if tensors.classification:
            proba = torch.softmax(out, dim=1).double().cpu().numpy()
            pred = proba if self.metric.needs_proba else proba.argmax(axis=1)
            return float(self.metric(tensors.y_val_np, pred, tensors.n_classes))
        pred = out.reshape(-1).double().cpu().numpy() * tensors.y_std + tensors.y_mean
        return float(self.metric(tensors.y_val_np, pred, None))

"""Packed training: many entries of one architecture trained together, one vmapped step.

`train_packed(members, data)` trains every member as `train()` would train it alone, and
answers one `TrainResult` (or the exception that member's solo run would have raised) per
member, in order. Members whose configs share a `pack_signature` train as one pack;
the others, and a pack of one, train alone through `train()` itself.

In a pack, each member keeps everything it would have alone:
- its initialisation (`build_model` from its seed), validation split and standardisation
  (`to_device` from its seed: members of one seed share those tensors), batch order (its
  own generator, the same `randperm` calls), and dropout masks (drawn from its own
  generator with `dropout_noise`, as its solo run draws them: `workers.training.stack`);
- its optimiser, settings, learning-rate schedule and gradient clipping
  (`workers.training.stacked_optim`), epochs, early stopping, divergence guard, budget
  (epochs, parameters, wall clock counted from the pack's start), cancel poll and
  epoch callback: `Loop`'s rules, asked per member in the same order.

A member that finishes, stops early, runs out of budget, diverges, is cancelled, or whose
callback raises leaves the pack at once (the stacked tensors shrink); the others go on.
An error of the shared step itself (out of memory) ends every member still in the pack.

A pack given `newcomers` (the device pool's) takes in members of its signature at each epoch
boundary (the stacked tensors grow, in optimiser-kind order): a newcomer starts from its own
initialisation, its own step 0 of its optimiser and schedule, its own epoch 1, and its
budget's clock starts when it joins, so it trains as it would have from the pack's start.
Each member's result goes to `on_result` the moment it leaves.

The contract: a member's predictions match its solo run within floating-point reordering
(vmapped kernels sum in another order than the solo ones; the measured tolerance is in
docs/techniques.md, "Packed training"), and the same pack trained again is bit-identical.
On a CUDA device the step is captured as CUDA graphs (`workers.training.step_graphs`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from common.protocol import Budget, EpochRecord
from workers.build import build_model
from workers.data import Standardizer, TrainData
from workers.spec import ModelConfig
from workers.techniques.losses import build_loss, build_stacked_loss
from workers.training.divergence import DivergenceGuard, constant_output_loss
from workers.training.gradients import layer_matrix
from workers.training.loop import Loop, steps_per_epoch
from workers.training.plan import TrainingPlan, plan_for
from workers.training.result import CANCELLED, DIVERGED, Stop, TrainError, TrainResult
from workers.training.signature import convolutional, pack_signature
from workers.training.stack import StackedModel
from workers.training.stacked_optim import ROWS, Schedule, StackedOptimizer, kind_of
from workers.training.step_graphs import StepGraphs
from workers.training.stopping import CancelPoll, EarlyStopper, EpochCap, WallClock
from workers.training.tensors import DeviceTensors, to_device
from workers.training.trainer import (
    _check_parameters,
    _metric_for,
    _resolve_device,
    deterministic,
    run_result,
    train,
)

log = logging.getLogger(__name__)


@dataclass
class PackMember:
    """One entry of a pack: its config, budget and callbacks, as `train()` takes them.

    `metric` is the competition's metric (None: the manifest's), `pretrain_data` the
    pre-training datasets of a config that pre-trains (it trains alone)."""

    config: ModelConfig
    budget: Budget = field(default_factory=Budget)
    on_epoch: Callable[[EpochRecord], None] | None = None
    should_stop: Callable[[], bool] | None = None
    metric: str | None = None
    pretrain_data: TrainData | Mapping[str, TrainData] | None = None


def train_packed(
    members: Sequence[PackMember],
    data: TrainData,
    *,
    device: str | torch.device = "cpu",
    weights_dir: Path | None = None,
    cuda_graphs: bool = True,
    always_pack: bool = False,
) -> list[TrainResult | BaseException]:
    """Train `members` on `data`: one result per member, in order; a member's exception
    (a refused budget, a diverged run, its callback raising) is its result and never fails
    the others. With `weights_dir`, member i's weights are written to
    `weights_dir/<i>/weights.safetensors` (`TrainResult.weights_path`).

    Convolutional networks train alone on a CPU unless `always_pack`: there a packed step
    is the same arithmetic as the members' own steps, laid out worse (16 digits CNNs packed
    took 1.03-1.29 times as long as one after another on the quiet 2-core box;
    docs/benchmarks.md)."""
    dev = _resolve_device(device)
    results: list[TrainResult | BaseException | None] = [None] * len(members)
    packs: dict[str, list[int]] = {}
    alone: list[int] = []
    for i, member in enumerate(members):
        try:
            signature = pack_signature(member.config, data)
        except Exception as exc:
            results[i] = exc
            continue
        if signature is None or (dev.type == "cpu" and not always_pack and convolutional(member.config)):
            alone.append(i)
        else:
            packs.setdefault(signature, []).append(i)
    for indices in packs.values():
        if len(indices) == 1:
            alone.extend(indices)
            continue
        pack = Pack([members[i] for i in indices], data, device=dev, cuda_graphs=cuda_graphs)
        out = pack.run([_out_dir(weights_dir, i) for i in indices])
        for i, result in zip(indices, out, strict=True):
            results[i] = result
    for i in sorted(alone):
        results[i] = _train_alone(members[i], data, dev, _out_dir(weights_dir, i))
    return results  # type: ignore[return-value]


def _loss_key(m: _Member) -> str:
    return "default" if m.phase.loss is None else m.phase.loss.model_dump_json()


def _out_dir(weights_dir: Path | None, i: int) -> Path | None:
    return None if weights_dir is None else Path(weights_dir) / str(i)


def _train_alone(member: PackMember, data: TrainData, dev: torch.device, out_dir: Path | None):
    try:
        return train(
            member.config,
            data,
            device=dev,
            on_epoch=member.on_epoch,
            budget=member.budget,
            out_dir=out_dir,
            should_stop=member.should_stop,
            metric=member.metric,
            pretrain_data=member.pretrain_data,
        )
    except Exception as exc:
        return exc


class _Split:
    """The tensors of one validation split (one seed): shared by the members of that seed."""

    def __init__(self, tensors: DeviceTensors, standardizer: Standardizer, index: int):
        self.tensors = tensors
        self.standardizer = standardizer
        self.index = index  # its place in the pack's concatenated training and validation rows


class _Member:
    """One member's state in the pack: its plan, rules, history and generators."""

    def __init__(
        self, position: int, spec: PackMember, plan: TrainingPlan, loop: Loop, model: nn.Module, n_params: int
    ):
        self.position = position  # index into the pack's members
        self.spec = spec
        self.plan = plan
        self.phase = plan.train
        self.loop = loop
        self.model = model  # its own module: predictions and weights are taken from it at the end
        self.n_params = n_params
        self.split: _Split | None = None
        self.criterion = None
        self.guard: DivergenceGuard | None = None
        self.early: EarlyStopper | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.phase_epochs = 0
        self.lr = plan.train.optimizer.lr
        self.start = 0.0  # when it joined the pack (its budget's clock and `seconds` count from it)
        self.step0 = 0  # the pack's step count when it joined: its own step 0
        self.shuffle: torch.Generator | None = None
        self.dropout: torch.Generator | None = None


class _Inputs:
    """The step's inputs for one batch shape, filled in place each step (static for a graph)."""

    def __init__(self, rows: int, batch: int, sites, n_coeffs: int, device: torch.device):
        self.batch = batch
        self.idx = torch.zeros(rows, batch, dtype=torch.long, device=device)
        self.masks = [torch.ones(rows, batch, *s.shape, device=device) for s in sites]
        # 1 - p of each member at each site (1 where a member drops nothing: its mask stays 1).
        self.keep = [
            torch.tensor([1 - p for p in s.ps], device=device).view(rows, *([1] * (1 + len(s.shape))))
            for s in sites
        ]
        self.coeffs = torch.zeros(n_coeffs, rows, device=device)


class Pack:
    """Members of one signature, trained in one vmapped step until each has left."""

    def __init__(
        self,
        members: Sequence[PackMember],
        data: TrainData,
        *,
        device: torch.device,
        cuda_graphs: bool = True,
        newcomers: Callable[[bool], Sequence[tuple[PackMember, Path | None]]] | None = None,
        on_result: Callable[[int, TrainResult | BaseException], None] | None = None,
    ):
        """`newcomers(closing)` is asked at each epoch boundary for members to take in (each
        with its weights folder; their positions follow the members' in the order given);
        `closing` is True when no member is left: an empty answer then ends the pack, and the
        caller must offer nothing more. `on_result(position, result)` hears each member's
        result as soon as it has one."""
        self.specs = list(members)
        self.data = data
        self.device = device
        self.cuda_graphs = cuda_graphs
        self.newcomers = newcomers
        self.on_result = on_result
        self.results: list[TrainResult | BaseException | None] = [None] * len(members)
        self.graphs: StepGraphs | None = None

    # ------------------------------------------------------------------ set-up

    def run(self, out_dirs: Sequence[Path | None]) -> list[TrainResult | BaseException]:
        self.out_dirs = list(out_dirs)
        self.start = time.perf_counter()
        self.active: list[_Member] = []
        with deterministic(self.device):
            members = self._prepare(range(len(self.specs)))
            if len(members) == 1 and self.newcomers is None:
                # Alone after all (the others were refused): its solo run is the reference.
                i = members[0].position
                self._settle(i, _train_alone(self.specs[i], self.data, self.device, self.out_dirs[i]))
            elif members or self.newcomers is not None:
                try:
                    self._set_up(members)
                    self._train()
                except Exception as exc:  # the shared step failed: every member still in it fails
                    log.exception("packed training failed for %d members", len(self.active))
                    for m in self.active:
                        if self.results[m.position] is None:
                            self._settle(m.position, exc)
        return self.results  # type: ignore[return-value]

    def _settle(self, position: int, result: TrainResult | BaseException) -> None:
        self.results[position] = result
        if self.on_result is not None:
            try:
                self.on_result(position, result)
            except Exception:  # the listener's fault must not end the pack
                log.exception("on_result failed for member %d", position)

    def _prepare(self, positions) -> list[_Member]:
        """Each member's plan, metric, parameter check and model; a refusal is its result."""
        members = []
        start = time.perf_counter()
        for i in positions:
            try:
                members.append(self._member(i, self.specs[i], start))
            except Exception as exc:
                self._settle(i, exc)
        return members

    def _member(self, i: int, spec: PackMember, start: float) -> _Member:
        data, dev = self.data, self.device
        budget = spec.budget or Budget()
        metric = _metric_for(spec.metric or data.manifest.get("metric"), data.task_type)
        plan = plan_for(spec.config)
        n_params = _check_parameters(spec.config, data, budget)
        model = build_model(spec.config, data.input_shape, data.n_outputs, inputs=data.inputs).to(dev)
        loop = Loop(
            device=dev,
            metric=metric,
            precision=plan.precision_on(dev.type),
            clock=WallClock(budget.seconds, start),
            cancel=CancelPoll(spec.should_stop, start),
            epoch_cap=EpochCap(budget.epochs),
            on_epoch=spec.on_epoch,
        )
        member = _Member(i, spec, plan, loop, model, n_params)
        member.start = start
        return member

    def _set_up(self, members: list[_Member]) -> None:
        self.splits: dict[int, _Split] = {}
        self.step = 0
        self.graphs = StepGraphs(self._step, self.device, enabled=self.cuda_graphs)
        self.first_loss = torch.zeros(0, device=self.device)
        self.fresh: list[_Member] = []  # members whose first batch loss is the next step's
        self.stack: StackedModel | None = None
        self.optimizer: StackedOptimizer | None = None
        self.perm: torch.Tensor | None = None
        self._join(members)

    def _split_of(self, m: _Member) -> _Split:
        """The tensors of `m`'s validation split: the pack's, or a new seed's added to them."""
        seed = m.phase.split_seed
        split = self.splits.get(seed)
        if split is not None:
            return split
        tensors, standardizer = to_device(
            self.data, seed=seed, val_fraction=m.phase.validation_fraction, device=self.device
        )
        if not self.splits:
            self.n_train, self.n_val = tensors.X_train.shape[0], tensors.X_val.shape[0]
            self.have_val = tensors.has_validation
            self.batch, self.steps = steps_per_epoch(self.n_train, m.phase.batch_size)
            self.X, self.Y, self.X_val = tensors.X_train, tensors.y_train, tensors.X_val
            self.layers, self.layer_matrix_t = layer_matrix(m.model, list(m.model.parameters()), self.device)
            self.n_trainable = sum(p.numel() for p in m.model.parameters() if p.requires_grad)
            self.precision = m.loop.precision
        else:
            # A split's sizes depend on the class counts and the fraction, never on the seed.
            if tensors.X_train.shape[0] != self.n_train or tensors.X_val.shape[0] != self.n_val:
                raise RuntimeError("the members' validation splits differ in size")
            self.X = torch.cat([self.X, tensors.X_train])
            self.Y = torch.cat([self.Y, tensors.y_train])
            self.X_val = torch.cat([self.X_val, tensors.X_val])
        split = self.splits[seed] = _Split(tensors, standardizer, len(self.splits))
        return split

    def _attach(self, m: _Member) -> None:
        """`m`'s split, loss, rules and generators, as its solo run sets them up."""
        dev = self.device
        m.split = self._split_of(m)
        t = m.split.tensors
        n_out = t.n_classes if t.classification else 1
        m.criterion = build_loss(
            m.phase.loss, classification=t.classification, y_train=t.y_train, n_classes=t.n_classes
        )
        m.guard = DivergenceGuard(
            constant_loss=constant_output_loss(m.criterion, t.y_train, n_out), plan=m.phase, model=m.model
        )
        rule = m.phase.early_stopping
        if rule is not None and self.have_val:
            on_metric = rule.monitor == "metric"
            m.early = EarlyStopper(
                rule,
                name=f"the validation {m.loop.metric.name}" if on_metric else "val_loss",
                higher_is_better=on_metric and m.loop.metric.higher_is_better,
            )
        m.shuffle = torch.Generator(device=dev)
        m.shuffle.manual_seed(m.phase.shuffle_seed)
        # The solo run's dropout draws from torch's default generator, seeded with the entry's seed.
        m.dropout = torch.Generator(device=dev)
        m.dropout.manual_seed(m.plan.seed)
        m.step0 = self.step

    def _join(self, newcomers: list[_Member]) -> None:
        """Take `newcomers` into the pack (at its start, or at an epoch boundary): the stack
        is rebuilt from every member's own module, in optimiser-kind order (each kind a slice
        of the stack), the members already in it keeping their weights and optimiser state."""
        joining = []
        for m in newcomers:
            try:
                self._attach(m)
            except Exception as exc:
                self._settle(m.position, exc)
            else:
                joining.append(m)
        if not joining:
            return
        old = self.active if self.stack is not None else []
        for row, m in enumerate(old):
            m.model.load_state_dict(self.stack.member_state(row))
        order = sorted(old + joining, key=lambda m: (kind_of(m.phase.optimizer), m.position))
        old_rows = [order.index(m) for m in old]
        settings = [m.phase.optimizer for m in order]
        schedules = [
            Schedule(m.phase.optimizer.lr, m.phase.scheduler, self.steps, m.phase.epochs) for m in order
        ]
        starts = [m.step0 for m in order]
        if self.optimizer is None or not old:
            self.optimizer = StackedOptimizer(settings, schedules, starts)
        else:
            self.optimizer = self.optimizer.regroup(old_rows, settings, schedules, starts)
        self.stack = StackedModel([m.model for m in order], self.X[:2])
        first_loss = self.first_loss.new_zeros(len(order))
        if old:
            first_loss.index_copy_(0, torch.tensor(old_rows, device=self.device), self.first_loss)
        self.first_loss = first_loss
        self.fresh.extend(joining)
        self.perm = None  # joins come between epochs: the next epoch draws every member's order
        self.active = order
        self._rebuild()

    def _rebuild(self) -> None:
        """The per-member tensors of the current members (after set-up, or after some left)."""
        dev, active = self.device, self.active
        n = len(active)
        self.split_offsets = torch.tensor([m.split.index * self.n_train for m in active], device=dev)
        self.val_offsets = torch.tensor([m.split.index * self.n_val for m in active], device=dev)
        clips = [m.phase.clip for m in active]
        self.clip = None
        if any(c is not None for c in clips):
            self.clip = (
                torch.tensor([c if c is not None else 1.0 for c in clips], device=dev),
                torch.tensor([c is not None for c in clips], device=dev),
            )
        # One call for every member's loss when they all have the same one (the usual pack).
        losses = {_loss_key(m) for m in active}
        self.stacked_loss = None
        if len(losses) == 1:
            m = active[0]
            self.stacked_loss = build_stacked_loss(
                m.phase.loss, classification=m.split.tensors.classification
            )
        self.loss_sum = torch.zeros(n, device=dev)
        self.loss_max = torch.zeros(n, device=dev)
        self.norm_sum = torch.zeros(n, len(self.layers), device=dev)
        self.inputs: dict[int, _Inputs] = {}
        if self.graphs is not None:
            self.graphs.reset()

    # ------------------------------------------------------------------ training

    def _train(self) -> None:
        while True:
            self._epoch_start()
            if not self.active:
                break
            t0 = time.perf_counter()
            self.batches = 0
            self.loss_sum.zero_()
            self.loss_max.zero_()
            self.norm_sum.zero_()
            perms = [
                torch.randperm(self.n_train, generator=m.shuffle, device=self.device) for m in self.active
            ]
            self.perm = torch.stack(perms) + self.split_offsets[:, None]
            for m, lr in zip(self.active, self.optimizer.lr_at(self.step), strict=True):
                m.lr = lr  # the epoch's report says the rate of its last step
            for s in range(self.steps):
                step = self.step
                key = min(self.batch, self.n_train - s * self.batch)
                inputs = self._fill(key, s, step)
                losses = self.graphs(key, inputs, step)
                if self.fresh:
                    rows = torch.tensor([self.active.index(m) for m in self.fresh], device=self.device)
                    self.first_loss.index_copy_(0, rows, losses.index_select(0, rows))
                    self.fresh = []
                for m, lr in zip(self.active, self.optimizer.lr_at(step), strict=True):
                    m.lr = lr
                self.step += 1
                self.batches += 1
                now = time.perf_counter()
                stopped = {}
                for m in self.active:
                    stop = m.loop.clock.check(now) or m.loop.cancel.check(now)
                    if stop is not None:
                        stopped[m] = stop
                if stopped:
                    cancelled = {m: st for m, st in stopped.items() if st.reason == CANCELLED}
                    self._leave(cancelled)
                    # An epoch the clock interrupted is still reported, marked partial.
                    timed = {m: st for m, st in stopped.items() if st.reason != CANCELLED}
                    if timed:
                        self._epoch_end(list(timed), t0, partial=timed)
                if not self.active:
                    break
            if self.active:
                self._epoch_end(list(self.active), t0, partial={})

    def _epoch_start(self) -> None:
        """Newcomers join; members whose epochs all ran (completed), or whose budget's epochs
        are used up, leave before the next epoch, as the solo loop ends. With no member left,
        the pack asks for newcomers once more, as its last chance."""
        self._admit(closing=False)
        self._leave(self._done_before_epoch())
        while not self.active and self._admit(closing=True):
            self._leave(self._done_before_epoch())

    def _done_before_epoch(self) -> dict[_Member, Stop | None]:
        leaving: dict[_Member, Stop | None] = {}
        for m in self.active:
            if m.phase_epochs >= m.phase.epochs:
                leaving[m] = None
                continue
            stop = m.loop.epoch_cap.check(m.phase_epochs, m.phase.phase)
            if stop is not None:
                leaving[m] = stop
        return leaving

    def _admit(self, *, closing: bool) -> bool:
        """Take in what `newcomers` offers; True if it offered anyone."""
        if self.newcomers is None:
            return False
        offered = list(self.newcomers(closing))
        if not offered:
            return False
        first = len(self.specs)
        for spec, out_dir in offered:
            self.specs.append(spec)
            self.out_dirs.append(out_dir)
            self.results.append(None)
        self._join(self._prepare(range(first, len(self.specs))))
        return True

    def _fill(self, key: int, s: int, step: int) -> _Inputs:
        """The static inputs of this batch shape, filled for step `step` (batch `s` of the epoch)."""
        inputs = self.inputs.get(key)
        drawing = [site for site in self.stack.sites if site.draws]
        if inputs is None:
            inputs = self.inputs[key] = _Inputs(len(self.active), key, drawing, ROWS, self.device)
        inputs.idx.copy_(self.perm[:, s * self.batch : s * self.batch + key])
        for buf, site, keep in zip(inputs.masks, drawing, inputs.keep, strict=True):
            # `dropout_noise` for each member from its own generator: bernoulli_, then the
            # division (one for the whole stack: the same float32 quotient per member).
            for row, (m, p) in enumerate(zip(self.active, site.ps, strict=True)):
                if p > 0:
                    buf[row].bernoulli_(1 - p, generator=m.dropout)
            buf.div_(keep)
        inputs.coeffs.copy_(self.optimizer.coefficients(step), non_blocking=True)
        return inputs

    def _step(self, inputs: _Inputs, step: int) -> torch.Tensor:
        """One packed step on `inputs`: forward, every member's loss, backward, gradient norms
        and clipping, the optimisers' update and the epoch's sums. Returns the members' losses."""
        n, rows = len(self.active), inputs.batch
        flat = inputs.idx.reshape(-1)
        xb = self.X.index_select(0, flat).view(n, rows, *self.X.shape[1:])
        yb = self.Y.index_select(0, flat).view(n, rows, *self.Y.shape[1:])
        params = self.stack.params
        for p in params.values():
            p.grad = None
        with self._autocast():
            out = self.stack.forward(xb, inputs.masks)
        if self.stacked_loss is not None:
            losses = self.stacked_loss(out.float(), yb)
        else:
            losses = torch.stack([m.criterion(out[i].float(), yb[i]) for i, m in enumerate(self.active)])
        losses.sum().backward()
        self.stack.zero_padding_grads()
        # A parameter the forward pass did not reach has no gradient: torch.optim skips it.
        grads = {k: p.grad for k, p in params.items() if p.grad is not None}
        with torch.no_grad():
            norms = torch.stack(
                [
                    torch.linalg.vector_norm(grads[k].reshape(n, -1), dim=1)
                    if k in grads
                    else torch.zeros(n, device=p.device)
                    for k, p in params.items()
                ],
                dim=1,
            )
            if self.clip is not None:
                # Same rule as clip_grad_norm_ per member, from the per-tensor norms already computed.
                limit, clips = self.clip
                total = torch.linalg.vector_norm(norms, dim=1)
                coef = torch.where(clips, torch.clamp(limit / (total + 1e-6), max=1.0), 1.0)
                for g in grads.values():
                    g.mul_(coef.view(n, *([1] * (g.dim() - 1))))
            self.norm_sum += torch.sqrt(norms.square() @ self.layer_matrix_t)
            detached = losses.detach()
            self.loss_sum += detached
            torch.maximum(self.loss_max, detached, out=self.loss_max)
        self.optimizer.apply(params, grads, inputs.coeffs)
        return detached

    def _autocast(self):
        # Without autocast's cache of cast weights: a CUDA graph cannot capture it.
        if self.precision == "bf16":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def _epoch_end(self, members: list[_Member], t0: float, *, partial: dict[_Member, Stop]) -> None:
        """Validation and the epoch's report of `members`, then each member's rules, in the
        order the solo loop asks them; those that stop leave the pack."""
        rows = [self.active.index(m) for m in members]
        index = torch.tensor(rows, device=self.device)
        val_out = None
        parts = [
            (self.loss_sum.index_select(0, index) / max(self.batches, 1))[:, None],
            self.loss_max.index_select(0, index)[:, None],
            self.first_loss.index_select(0, index)[:, None],
        ]
        if self.have_val:
            with self._autocast():
                val_out = self.stack.evaluate(
                    rows, self.X_val, self.val_offsets.index_select(0, index), self.n_val
                )
            val_losses = [m.criterion(val_out[j], m.split.tensors.y_val) for j, m in enumerate(members)]
            parts.append(torch.stack(val_losses)[:, None])
        parts.append(self.norm_sum.index_select(0, index) / max(self.batches, 1))
        numbers = torch.cat(parts, dim=1).tolist()
        leaving: dict[_Member, Stop | None] = {}
        for j, m in enumerate(members):
            values = numbers[j]
            train_loss, max_batch_loss, first_batch_loss = values[0], values[1], values[2]
            val_loss = values[3] if self.have_val else None
            norms = dict(zip(self.layers, values[4:] if self.have_val else values[3:], strict=True))
            diverged = m.guard.check(
                epoch=m.loop.epochs_done + 1,
                train_loss=train_loss,
                max_batch_loss=max_batch_loss,
                first_batch_loss=first_batch_loss,
                grad_norms=norms,
            )
            val_metric = None
            if val_out is not None and diverged is None:
                val_metric = {
                    "name": m.loop.metric.name,
                    "value": m.loop.metric_value(val_out[j], m.split.tensors),
                }
            m.loop.epochs_done += 1
            m.phase_epochs += 1
            record: EpochRecord = {
                "phase": m.phase.phase,
                "epoch": m.loop.epochs_done,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_metric": val_metric,
                "lr": m.lr,
                "seconds": time.perf_counter() - t0,
                "grad_norms": norms,
            }
            if m in partial:
                record["partial"] = True
            m.loop.history.append(record)
            try:
                if m.loop.on_epoch is not None:
                    m.loop.on_epoch(record)
            except Exception as exc:
                self.results[m.position] = exc
                leaving[m] = None
                continue
            if diverged is not None:
                if m.best_state is None:
                    self.results[m.position] = TrainError(diverged.message)
                    leaving[m] = None
                else:
                    leaving[m] = Stop(
                        DIVERGED,
                        f"{diverged.message}. Training stopped early: the predictions come from epoch "
                        f"{m.early.best_epoch}, the best before it",
                    )
                continue
            if m in partial:
                leaving[m] = partial[m]
                continue
            if m.early is not None:
                watched = val_metric["value"] if m.phase.early_stopping.monitor == "metric" else val_loss
                if m.early.observe(m.loop.epochs_done, watched):
                    m.best_state = self.stack.member_state(self.active.index(m))
                stop = m.early.check(m.loop.epochs_done)
                if stop is not None:
                    leaving[m] = stop
                    continue
            # Asked between epochs too, so a short epoch still notices a cancel or the deadline.
            now = time.perf_counter()
            stop = m.loop.clock.check(now) or m.loop.cancel.check(now, force=True)
            if stop is not None:
                leaving[m] = stop
        self._leave(leaving)

    # ------------------------------------------------------------------ leaving

    def _leave(self, stops: Mapping[_Member, Stop | None]) -> None:
        """Members that stopped (a `Stop`, or None: every epoch ran) get their results; the
        pack goes on without them and without those whose result is already an exception."""
        if not stops:
            return
        for m, stop in stops.items():
            result = self.results[m.position]
            self._settle(m.position, self._finish(m, stop) if result is None else result)
        keep = [row for row, m in enumerate(self.active) if m not in stops]
        self.active = [self.active[row] for row in keep]
        self.fresh = [m for m in self.fresh if m not in stops]
        if not self.active:
            return
        self.stack.keep(keep)
        self.optimizer.keep(keep)
        rows = torch.tensor(keep, device=self.device)
        self.perm = None if self.perm is None else self.perm.index_select(0, rows)
        first = self.first_loss.index_select(0, rows)
        sums = (
            self.loss_sum.index_select(0, rows),
            self.loss_max.index_select(0, rows),
            self.norm_sum.index_select(0, rows),
        )
        self._rebuild()
        self.loss_sum.copy_(sums[0])
        self.loss_max.copy_(sums[1])
        self.norm_sum.copy_(sums[2])
        self.first_loss = first

    def _finish(self, m: _Member, stop: Stop | None) -> TrainResult | BaseException:
        try:
            if m.best_state is not None and (stop is None or stop.reason != CANCELLED):
                m.model.load_state_dict(m.best_state)
            else:
                m.model.load_state_dict(self.stack.member_state(self.active.index(m)))
            return run_result(
                config=m.spec.config,
                data=self.data,
                plan=m.plan,
                loop=m.loop,
                model=m.model,
                tensors=m.split.tensors,
                standardizer=m.split.standardizer,
                metric_name=m.loop.metric.name,
                stop=stop,
                best_epoch=m.early.best_epoch if m.early is not None else None,
                n_params=m.n_params,
                n_trainable=self.n_trainable,
                precision=m.loop.precision,
                out_dir=self.out_dirs[m.position],
                start=m.start,
            )
        except Exception as exc:
            return exc

"""The optimisers of a pack, over parameters stacked on a leading member axis.

Each member keeps its own optimiser, settings and schedule (`workers.techniques.optimizers`
and `schedulers`); the update is torch.optim's own rule, written once over the stacked
tensors with each member's numbers broadcast along the member axis, so a pack of sixteen
costs one update per parameter tensor, not sixteen:

- sgd, momentum, nesterov: `torch.optim.SGD` (dampening 0; the momentum buffer starts as
  the first gradient);
- rmsprop: `torch.optim.RMSprop` (not centred; with or without momentum);
- adam, adamw: `torch.optim.Adam` / `AdamW` (no amsgrad; AdamW's decay decoupled).

Members are ordered by optimiser kind in the stack (`kind_of`), so each kind is a
contiguous slice of the member axis and is updated in place, without indexing copies.
The per-step numbers (learning rates from the schedules, Adam's bias corrections) are
computed on the host in double precision as torch.optim does, then handed to `apply` as
one small tensor (`coefficients`): on a CUDA device the update can then be captured in a
graph and replayed with new numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from workers.techniques.base import NamedParams
from workers.techniques.optimizers import OptimizerParams
from workers.techniques.schedulers import lr_factor

# Rows of the coefficient tensor (one column per member).
NEG_LR, WEIGHT_DECAY, DECAY, MOMENTUM, ALPHA, ONE_MINUS_ALPHA, ONE_MINUS_BETA1, BETA2 = range(8)
ONE_MINUS_BETA2, EPS, BIAS2_SQRT = range(8, 11)
ROWS = 11


def kind_of(settings: OptimizerParams) -> str:
    """The update rule a member's optimiser follows (members of one kind are stepped together)."""
    if settings.name == "rmsprop" and settings.momentum > 0:
        return "rmsprop_momentum"
    return settings.name


@dataclass(frozen=True)
class Schedule:
    """One member's learning rate at each step: its base rate times its scheduler's factor,
    as `LambdaLR` computes it (`workers.techniques.schedulers.build_scheduler`)."""

    lr: float
    scheduler: NamedParams
    steps_per_epoch: int
    epochs: int

    def lr_at(self, step: int) -> float:
        return self.lr * lr_factor(self.scheduler, step, max(1, self.steps_per_epoch), self.epochs)


class StackedOptimizer:
    """The optimisers of the members in stack order (`settings[i]` for member row i).

    `coefficients(step)` gives the numbers of the pack's step `step` (0-based) on the host;
    a member that joined the pack at the pack's step `starts[i]` takes its own step
    `step - starts[i]` then (its schedule and Adam's bias corrections count from its join).
    `apply(params, grads, coeffs)` updates the stacked parameters in place with them.
    `keep(rows)` drops the members that left; `regroup` takes members in."""

    def __init__(
        self,
        settings: Sequence[OptimizerParams],
        schedules: Sequence[Schedule],
        starts: Sequence[int] | None = None,
    ):
        kinds = [kind_of(s) for s in settings]
        if len(set(kinds)) != len(_runs(kinds)):
            raise ValueError("members must be ordered by optimiser kind (kind_of)")
        self.settings = list(settings)
        self.schedules = list(schedules)
        self.starts = list(starts) if starts is not None else [0] * len(self.settings)
        self.state: dict[str, dict[str, torch.Tensor]] = {}

    @property
    def groups(self) -> list[tuple[str, int, int]]:
        """(kind, first row, end row) of each kind in the stack."""
        return _runs([kind_of(s) for s in self.settings])

    def lr_at(self, step: int) -> list[float]:
        """Each member's learning rate at the pack's step `step`."""
        return [
            schedule.lr_at(step - start) for schedule, start in zip(self.schedules, self.starts, strict=True)
        ]

    def coefficients(self, step: int) -> torch.Tensor:
        """The (ROWS x members) numbers of step `step`, float32 on the host."""
        out = np.zeros((ROWS, len(self.settings)))
        for i, (s, lr) in enumerate(zip(self.settings, self.lr_at(step), strict=True)):
            t = step - self.starts[i] + 1  # torch.optim counts the step being taken from 1
            col = out[:, i]
            col[NEG_LR] = -lr
            col[DECAY] = 1.0
            if s.name == "adamw":
                col[DECAY] = 1 - lr * s.weight_decay
            else:
                col[WEIGHT_DECAY] = s.weight_decay
            if s.name in ("momentum", "nesterov"):
                col[MOMENTUM] = s.momentum
            elif s.name == "rmsprop":
                col[ALPHA], col[ONE_MINUS_ALPHA], col[MOMENTUM], col[EPS] = (
                    s.alpha,
                    1 - s.alpha,
                    s.momentum,
                    s.eps,
                )
            elif s.name in ("adam", "adamw"):
                beta1, beta2 = s.betas
                col[NEG_LR] = -(lr / (1 - beta1**t))
                col[ONE_MINUS_BETA1], col[BETA2], col[ONE_MINUS_BETA2] = 1 - beta1, beta2, 1 - beta2
                col[EPS], col[BIAS2_SQRT] = s.eps, (1 - beta2**t) ** 0.5
        return torch.from_numpy(out.astype(np.float32))

    def keep(self, rows: Sequence[int]) -> None:
        """Only the members at `rows` (ascending, in stack order) stay."""
        self.settings = [self.settings[r] for r in rows]
        self.schedules = [self.schedules[r] for r in rows]
        self.starts = [self.starts[r] for r in rows]
        for buffers in self.state.values():
            for key, tensor in buffers.items():
                buffers[key] = tensor[list(rows)]

    def regroup(
        self,
        old_rows: Sequence[int],
        settings: Sequence[OptimizerParams],
        schedules: Sequence[Schedule],
        starts: Sequence[int],
    ) -> StackedOptimizer:
        """The optimiser of a regrouped stack: `settings`, `schedules` and `starts` in the new
        stack order, where the member at row i of this one is at `old_rows[i]`; the state
        of the others (members that just joined) starts at zero, as torch.optim's does."""
        out = StackedOptimizer(settings, schedules, starts)
        n = len(out.settings)
        for name, buffers in self.state.items():
            moved = out.state[name] = {}
            for key, tensor in buffers.items():
                fresh = tensor.new_zeros((n, *tensor.shape[1:]))
                if len(old_rows):
                    fresh.index_copy_(0, torch.as_tensor(list(old_rows), device=tensor.device), tensor)
                moved[key] = fresh
        return out

    @torch.no_grad()
    def apply(
        self,
        params: dict[str, torch.Tensor],
        grads: dict[str, torch.Tensor],
        coeffs: torch.Tensor,
    ) -> None:
        """One update of every stacked parameter that has a gradient in `grads`, with the
        numbers `coeffs` of the step (`coefficients`, on the parameters' device)."""
        for name, g in grads.items():
            p = params[name]
            state = self.state.setdefault(name, {})
            for kind, a, b in self.groups:
                c = coeffs[:, a:b].reshape(ROWS, b - a, *([1] * (p.dim() - 1)))
                self._update(kind, p, g, c, state, a, b)

    def _buffer(self, state: dict, key: str, like: torch.Tensor) -> torch.Tensor:
        """The optimiser state `key` of one parameter, for every member (zeros at first)."""
        if key not in state:
            state[key] = torch.zeros_like(like)
        return state[key]

    def _update(self, kind, param, grad, c, state, a, b) -> None:
        p, g = param[a:b], grad[a:b]
        members = self.settings[a:b]
        if kind == "adamw":
            if any(s.weight_decay != 0 for s in members):
                p.mul_(c[DECAY])
        elif any(s.weight_decay != 0 for s in members):
            g = g + c[WEIGHT_DECAY] * p
        if kind == "sgd":
            p.add_(c[NEG_LR] * g)
        elif kind in ("momentum", "nesterov"):
            buf = self._buffer(state, "momentum", param)[a:b]
            buf.mul_(c[MOMENTUM]).add_(g)
            direction = g + c[MOMENTUM] * buf if kind == "nesterov" else buf
            p.add_(c[NEG_LR] * direction)
        elif kind in ("rmsprop", "rmsprop_momentum"):
            square = self._buffer(state, "square_avg", param)[a:b]
            square.mul_(c[ALPHA]).add_(c[ONE_MINUS_ALPHA] * g * g)
            avg = square.sqrt().add_(c[EPS])
            if kind == "rmsprop_momentum":
                buf = self._buffer(state, "momentum", param)[a:b]
                buf.mul_(c[MOMENTUM]).add_(g / avg)
                p.add_(c[NEG_LR] * buf)
            else:
                p.add_(c[NEG_LR] * g / avg)
        elif kind in ("adam", "adamw"):
            exp_avg = self._buffer(state, "exp_avg", param)[a:b]
            exp_avg_sq = self._buffer(state, "exp_avg_sq", param)[a:b]
            exp_avg.lerp_(g, c[ONE_MINUS_BETA1])
            exp_avg_sq.mul_(c[BETA2]).add_(c[ONE_MINUS_BETA2] * g * g)
            denom = (exp_avg_sq.sqrt() / c[BIAS2_SQRT]).add_(c[EPS])
            p.add_(c[NEG_LR] * exp_avg / denom)
        else:
            raise ValueError(f"unknown optimizer kind {kind!r}")


def _runs(kinds: Sequence[str]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for i, kind in enumerate(kinds):
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1], i + 1)
        else:
            out.append((kind, i, i + 1))
    return out

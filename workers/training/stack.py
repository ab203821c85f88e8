"""The networks of a pack as one: parameters and buffers stacked on a leading member axis
(`torch.func.stack_module_state`), and one template module, on the meta device, that
`torch.func.functional_call` runs under `vmap` with every member's tensors at once.

BatchNorm's running statistics are stacked buffers: the template's in-place update writes
each member's own slice. Dropout is the one layer that draws random numbers; `vmap` cannot
draw them per member as a member alone would (randomness="different" draws one stream for
the whole stack), so the template's dropout layers are `FedDropout`: the masks are drawn
outside the vmapped call, for each member from its own generator in the order and shapes
its solo run draws them (`dropout_sites`), and fed in for the call.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

EVAL_CHUNK = 4096  # rows per member per forward pass when predicting a whole split


class FedDropout(nn.Module):
    """Dropout in the packed step: multiplies by the mask fed for this call (already scaled
    by 1/(1-p)); identity in eval mode, or when no member drops units here."""

    def __init__(self):
        super().__init__()
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.mask is None:
            return x
        return x * self.mask.to(x.dtype)


@dataclass(frozen=True)
class DropoutSite:
    """A dropout layer: its module name, the shape of its input per row, and each member's p."""

    name: str
    shape: tuple[int, ...]
    ps: tuple[float, ...]

    @property
    def draws(self) -> bool:
        return any(p > 0 for p in self.ps)


def dropout_sites(models: Sequence[nn.Module], sample: torch.Tensor) -> list[DropoutSite]:
    """The dropout layers of the members' (equal) architecture in the order a forward pass
    reaches them, found by running `sample` (a couple of rows) through the first member."""
    model = models[0]
    order: list[tuple[str, tuple[int, ...]]] = []
    hooks = [
        module.register_forward_pre_hook(
            lambda _m, args, name=name: order.append((name, tuple(args[0].shape[1:])))
        )
        for name, module in model.named_modules()
        if isinstance(module, nn.Dropout)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(sample)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return [
        DropoutSite(name, shape, tuple(float(m.get_submodule(name).p) for m in models))
        for name, shape in order
    ]


class StackedModel:
    """The members' networks (same architecture, built alike) stacked in the given order."""

    def __init__(self, models: Sequence[nn.Module], sample: torch.Tensor):
        self.sites = dropout_sites(models, sample)
        self.params, self.buffers = stack_module_state(list(models))
        template = copy.deepcopy(models[0]).to("meta")
        for site in self.sites:
            parent, _, attr = site.name.rpartition(".")
            setattr(template.get_submodule(parent) if parent else template, attr, FedDropout())
        self.template = template
        self._fed = [template.get_submodule(site.name) for site in self.sites if site.draws]
        # functorch's batching rule of the embedding's backward offsets each member's token
        # ids but not `padding_idx`: only the first member's padding row is left without a
        # gradient. `zero_padding_grads` does for the others what nn.Embedding does alone.
        self.padding_rows = [
            (f"{name}.weight", module.padding_idx)
            for name, module in models[0].named_modules()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None
        ]

    @property
    def size(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def _call(self, params, buffers, x, masks):
        for module, mask in zip(self._fed, masks or [None] * len(self._fed), strict=True):
            module.mask = mask
        try:
            return functional_call(self.template, (params, buffers), (x,))
        finally:
            for module in self._fed:
                module.mask = None

    def forward(self, x: torch.Tensor, masks: Sequence[torch.Tensor]) -> torch.Tensor:
        """Training-mode outputs [members, rows, ...] of `x` [members, rows, ...], with one
        mask [members, rows, ...] per dropout site that draws (`DropoutSite.draws`)."""
        if not self.template.training:
            self.template.train()
        return vmap(self._call, in_dims=(0, 0, 0, 0))(self.params, self.buffers, x, list(masks))

    @torch.no_grad()
    def zero_padding_grads(self) -> None:
        for name, row in self.padding_rows:
            grad = self.params[name].grad
            if grad is not None:
                grad[:, row] = 0.0

    @torch.no_grad()
    def evaluate(self, rows: Sequence[int], X: torch.Tensor, offsets: torch.Tensor, n: int) -> torch.Tensor:
        """Eval-mode outputs (float) [len(rows), n, ...] of the members at `rows`, each on its
        own `n` rows of `X` starting at its offset (`offsets` [len(rows)] on the device)."""
        index = None if list(rows) == list(range(self.size)) else torch.as_tensor(list(rows), device=X.device)

        def pick(tensors):
            return tensors if index is None else {k: v.index_select(0, index) for k, v in tensors.items()}

        params, buffers = pick(self.params), pick(self.buffers)
        self.template.eval()
        outs = []
        try:
            for start in range(0, n, EVAL_CHUNK):
                span = torch.arange(start, min(n, start + EVAL_CHUNK), device=X.device)
                idx = (offsets[:, None] + span[None, :]).reshape(-1)
                xb = X.index_select(0, idx).view(len(rows), span.numel(), *X.shape[1:])
                outs.append(vmap(self._call, in_dims=(0, 0, 0, None))(params, buffers, xb, None).float())
        finally:
            self.template.train()
        return torch.cat(outs, dim=1)

    def keep(self, rows: Sequence[int]) -> None:
        """Only the members at `rows` (ascending) stay; their tensors are copied into new
        stacks (new leaves: a captured graph of the old ones no longer applies)."""
        index = list(rows)
        self.params = {k: v.detach()[index].requires_grad_(v.requires_grad) for k, v in self.params.items()}
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self.sites = [DropoutSite(s.name, s.shape, tuple(s.ps[r] for r in index)) for s in self.sites]
        self._fed = [self.template.get_submodule(s.name) for s in self.sites if s.draws]

    def member_state(self, row: int) -> dict[str, torch.Tensor]:
        """The member at `row` as a state dict (copies), to load into its own module."""
        out = {k: v.detach()[row].clone() for k, v in self.params.items()}
        out.update({k: v[row].clone() for k, v in self.buffers.items()})
        return out

"""Per-layer gradient norms, and gradient clipping from the same numbers."""

from __future__ import annotations

import torch
from torch import nn

from workers.build import layer_names


def layer_matrix(
    model: nn.Module, params: list[nn.Parameter], device: torch.device
) -> tuple[list[str], torch.Tensor]:
    """The layers of `params` (in order of first appearance) and the 0/1 (tensors x layers)
    matrix that sums squared tensor norms into squared layer norms."""
    by_param = layer_names(model)
    ident = {id(p): n for n, p in model.named_parameters()}
    layers: list[str] = []
    index: dict[str, int] = {}
    cols = []
    for p in params:
        layer = by_param.get(ident.get(id(p), ""), "?")
        if layer not in index:
            index[layer] = len(layers)
            layers.append(layer)
        cols.append(index[layer])
    m = torch.zeros(len(layers), len(params))
    m[torch.tensor(cols, dtype=torch.long), torch.arange(len(params))] = 1.0
    return layers, m.t().contiguous().to(device)


class GradNormTracker:
    """Per-layer gradient norms, averaged over an epoch's batches.

    Per batch: one fused norm of every gradient tensor, written straight into
    that batch's row of a (batches x tensors) buffer on the device: two kernel
    launches and no transfer. At the epoch's end the rows are summed by layer
    (a matrix product with a 0/1 layers x tensors matrix), square-rooted and
    averaged, and cross to the host once with the epoch's other numbers.
    """

    def __init__(self, model: nn.Module, params: list[nn.Parameter], device: torch.device, steps: int):
        self.params = params
        self.layers, self.matrix_t = layer_matrix(model, params, device)
        self.rows = torch.zeros(max(steps, 1), len(params), device=device)
        self.batches = 0

    def step(self, clip: float | None) -> None:
        """Record this batch's norms; with `clip`, scale the gradients to that global norm at most."""
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            grads = [
                g if g is not None else torch.zeros_like(p) for g, p in zip(grads, self.params, strict=True)
            ]
        norms = self.rows[self.batches]
        torch.stack(torch._foreach_norm(grads), out=norms)
        if clip is not None:
            # Same rule as clip_grad_norm_, reusing the per-tensor norms already computed.
            total = torch.linalg.vector_norm(norms)
            coef = torch.clamp(clip / (total + 1e-6), max=1.0)
            torch._foreach_mul_(grads, coef)
        self.batches += 1

    def reset(self) -> None:
        self.batches = 0

    def epoch_means(self) -> torch.Tensor:
        """Each layer's norm, averaged over the batches recorded since `reset` (on the device)."""
        used = self.rows[: max(self.batches, 1)]
        return torch.sqrt(used.square() @ self.matrix_t).mean(dim=0)

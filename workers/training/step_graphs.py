"""The packed step as CUDA graphs: captured once per batch shape, replayed every step.

A digits-size pack is too small to keep a GPU busy one kernel launch at a time: the whole
step (gather the batch, forward, the members' losses, backward, gradient norms and
clipping, the optimiser's update, the epoch's sums) is recorded as one `CUDAGraph` and
replayed with new inputs written into its static buffers (the batch indices, the dropout
masks, the optimiser's numbers of the step).

- Two shapes at most per pack: the full batches and the epoch's short last batch, each
  captured the first time it comes (no recapture per epoch). When members leave the pack
  the stacked tensors are new and the graphs are dropped (`reset`), then captured again:
  at most once per departure.
- The first `WARMUP` steps of each shape run eagerly on a side stream, as CUDA graphs
  need (lazy initialisation of cuBLAS/cuDNN workspaces, the optimiser's state, autograd's
  streams); the first step of a pack always does (the optimiser's first step differs).
- Off CUDA, or when a capture fails (an operation that cannot be captured), the step runs
  eagerly for the rest of the pack, and `reason` says why; the results are the same
  numbers either way, the graph replays exactly the kernels the eager step launches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

log = logging.getLogger(__name__)

WARMUP = 3
EAGER = "eager"
GRAPHS = "cuda_graphs"


class StepGraphs:
    """Runs `step(inputs, step_number)`: eagerly, or as the graph captured for `key` (the
    batch shape). `inputs` are the static buffers of that shape, filled by the caller
    before each call; the step's return value must be a tensor the step writes."""

    def __init__(
        self, step: Callable[[Any, int], torch.Tensor], device: torch.device, *, enabled: bool = True
    ):
        self.step = step
        self.device = device
        self.graphs: dict[Any, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.captures = 0
        if device.type != "cuda":
            self.mode, self.reason = (
                EAGER,
                f"CUDA graphs need a CUDA device; this pack trains on {device.type}",
            )
        elif not enabled:
            self.mode, self.reason = EAGER, "CUDA graphs are switched off for this pack"
        else:
            self.mode, self.reason = GRAPHS, None
        self.side: torch.cuda.Stream | None = None
        self.warm: dict[Any, int] = {}  # eager steps run of each shape since the last reset

    def reset(self) -> None:
        """Forget the captured graphs (the stacked tensors they read changed)."""
        self.graphs.clear()
        self.warm.clear()

    def __call__(self, key: Any, inputs: Any, step: int) -> torch.Tensor:
        if self.mode == EAGER:
            return self.step(inputs, step)
        entry = self.graphs.get(key)
        if entry is None:
            if step == 0 or self.warm.get(key, 0) < WARMUP:
                self.warm[key] = self.warm.get(key, 0) + 1
                return self._on_side_stream(inputs, step)
            entry = self._capture(key, inputs, step)
            if entry is None:
                return self.step(inputs, step)
        graph, out = entry
        graph.replay()
        return out

    def _on_side_stream(self, inputs: Any, step: int) -> torch.Tensor:
        if self.side is None:
            self.side = torch.cuda.Stream(self.device)
        side = self.side
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            out = self.step(inputs, step)
        torch.cuda.current_stream(self.device).wait_stream(side)
        return out

    def _capture(self, key: Any, inputs: Any, step: int):
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: another thread of the worker may use the device meanwhile.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                out = self.step(inputs, step)
        except Exception as exc:  # an operation that cannot be captured: eager from now on
            self.mode, self.reason = EAGER, f"capture failed ({type(exc).__name__}: {exc})"
            self.graphs.clear()
            log.warning("packed step: %s; training eagerly", self.reason)
            return None
        self.captures += 1
        self.graphs[key] = (graph, out)
        return graph, out

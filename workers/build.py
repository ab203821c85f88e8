"""Model config -> torch.nn.Module.

Parameters are named after the config's layers (`layers.3.conv2d.weight`,
`layers.2.residual.block.0.conv2d.weight`), so that per-layer diagnostics such as
gradient norms read like the config: see `layer_names` and `parameters_by_layer`.
Building is deterministic for a config's seed and leaves the global RNG alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from common.problems import Problem
from workers import spec, techniques
from workers.lora import apply_lora, freeze, head_slot, merge_lora, prepare_finetune, replace_head
from workers.techniques._modules import Slot, carry_mask
from workers.techniques.base import BuildContext, Shape, ShapeContext
from workers.techniques.initialisers import apply_init, zero_last_layer
from workers.techniques.optimizers import build_optimizer, clip_gradients
from workers.techniques.schedulers import build_scheduler

_LAYERS = techniques.family("layer")


class PodiumNet(nn.Module):
    """The layers of a config, applied in order."""

    def __init__(self, layers: nn.ModuleList, input_shape: Shape, output_shape: Shape):
        super().__init__()
        self.layers = layers
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Token input: the embedding marks the padding, and the mask travels with the
        # sequence so that attention, recurrence and pooling read real tokens only.
        mask = None
        for layer in self.layers:
            if mask is None and getattr(layer.inner, "makes_mask", False):
                mask = layer.inner.padding_mask(x)
            x = layer(x, mask)
            x, mask = carry_mask(x, mask)
        return x


def _build_layers(
    items, shape: Shape, n_outputs: int, inputs=None, *, at_input: bool = False
) -> tuple[nn.ModuleList, Shape]:
    modules = nn.ModuleList()
    shape_ctx = ShapeContext(n_outputs, inputs=inputs)
    ctx = BuildContext(
        n_outputs, build_layers=lambda inner, s: _build_layers(inner, s, n_outputs, inputs), inputs=inputs
    )
    for i, item in enumerate(items):
        tech = _LAYERS[item.technique]
        shape_ctx.at_input = at_input and i == 0
        module = tech.build(item.params, shape, ctx)
        problems: list[Problem] = []
        out = spec.infer_shapes([item], shape, shape_ctx, problems)
        if out is None:  # output_shape() checked the whole list first, so this is a bug
            raise spec.ConfigError(problems)
        modules.append(Slot(item.technique, module))
        shape = out
    return modules, shape


def _construct(
    config: spec.ModelConfig, input_shape: Iterable[int], n_outputs: int, inputs=None
) -> PodiumNet:
    shape = tuple(int(s) for s in input_shape)
    out = spec.output_shape(config, shape, n_outputs, inputs=inputs)  # raises ConfigError with paths
    layers, built_out = _build_layers(config.model.layers, shape, n_outputs, inputs, at_input=True)
    assert built_out == out
    return PodiumNet(layers, shape, out)


def build_model(
    config: spec.ModelConfig, input_shape: Iterable[int], n_outputs: int, *, inputs=None
) -> PodiumNet:
    """A fresh model with the config's initialiser applied, the same for the same seed.
    `inputs`: the manifest's description of token or categorical input (None: plain numbers)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = _construct(config, input_shape, n_outputs, inputs)
        apply_init(model, config.model.init)
        _apply_layer_inits(config.model.layers, model.layers, zero_residual=config.model.zero_init_residual)
    return model


def _apply_layer_inits(items, slots: nn.ModuleList, *, zero_residual: bool) -> None:
    """Each layer's own `init` over the model's, then (with `zero_init_residual`) the last
    layer of every residual block to zero, inner blocks first: in config order, so the
    result depends only on the seed."""
    for item, slot in zip(items, slots, strict=True):
        if item.technique == "residual":
            block = slot.inner.block
            _apply_layer_inits(item.params, block, zero_residual=zero_residual)
            if zero_residual:
                zero_last_layer(block)
            continue
        own = getattr(item.params, "init", None)
        if own is not None:
            apply_init(slot.inner, own, keep_default=False)


def layer_of(param_name: str) -> str:
    """`layers.2.residual.block.0.conv2d.weight` -> `layers.2.residual.block.0.conv2d`:
    the deepest module named after a technique."""
    parts = param_name.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in _LAYERS:
            return ".".join(parts[: i + 1])
    return ".".join(parts[:-1]) or param_name


def layer_names(model: nn.Module) -> dict[str, str]:
    """Parameter name -> layer path, for every parameter of the model."""
    return {name: layer_of(name) for name, _ in model.named_parameters()}


def parameters_by_layer(model: nn.Module, *, trainable_only: bool = False) -> dict[str, list[nn.Parameter]]:
    """Layer path -> its parameters, in model order (for per-layer gradient norms)."""
    out: dict[str, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if trainable_only and not p.requires_grad:
            continue
        out.setdefault(layer_of(name), []).append(p)
    return out


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradients of each layer (layers without gradients are left out)."""
    norms: dict[str, float] = {}
    for layer, params in parameters_by_layer(model).items():
        grads = [p.grad.detach().float().norm() for p in params if p.grad is not None]
        if grads:
            norms[layer] = float(torch.linalg.vector_norm(torch.stack(grads)))
    return norms


__all__ = [
    "PodiumNet",
    "apply_lora",
    "freeze",
    "head_slot",
    "merge_lora",
    "prepare_finetune",
    "replace_head",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "clip_gradients",
    "gradient_norms",
    "layer_names",
    "layer_of",
    "parameters_by_layer",
]

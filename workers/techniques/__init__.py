"""The techniques library: one registry of every activation, initialiser, layer,
optimiser, scheduler and adapter a model config may name.

Adding a technique = adding a module here whose TECHNIQUES list holds a
`Technique` (parameter model + builder, and shape inference for layers), and
listing the module in _MODULES: the config schema, its JSON Schema and the
catalog follow. Importing this package never imports torch."""

from __future__ import annotations

from . import (
    activations,
    adapters,
    conv,
    dense,
    initialisers,
    optimizers,
    recurrent,
    residual,
    schedulers,
    transformer,
)
from .base import Params, Shape, ShapeError, Technique

_MODULES = [
    activations,
    initialisers,
    dense,
    conv,
    recurrent,
    residual,
    transformer,
    optimizers,
    schedulers,
    adapters,
]

FAMILIES = ("layer", "activation", "init", "optimizer", "scheduler", "adapter")
REGISTRY: dict[tuple[str, str], Technique] = {}


def register(technique: Technique) -> Technique:
    key = (technique.family, technique.name)
    if key in REGISTRY:
        raise ValueError(f"technique {key} is registered twice")
    if technique.family not in FAMILIES:
        raise ValueError(f"unknown family {technique.family!r}")
    REGISTRY[key] = technique
    return technique


for _module in _MODULES:
    for _t in _module.TECHNIQUES:
        register(_t)


def family(name: str) -> dict[str, Technique]:
    """The techniques of one family, in registration order."""
    return {t.name: t for (f, _), t in REGISTRY.items() if f == name}


def get(family_name: str, name: str) -> Technique:
    return REGISTRY[(family_name, name)]


__all__ = ["FAMILIES", "REGISTRY", "Params", "Shape", "ShapeError", "Technique", "family", "get", "register"]

"""The techniques library: one registry of every activation, initialiser, layer,
optimiser, scheduler, loss and adapter a model config may name.

Adding a technique = adding a module here whose TECHNIQUES list holds a
`Technique` (parameter model + builder, and for layers shape inference and the
Weights the builder's module holds, i.e. the parameter count): it is discovered
at import, and the config schema, its JSON Schema, the catalog and the count
follow. Modules named with a leading underscore hold torch code for the
builders and are never imported here, so importing this package never imports
torch."""

from __future__ import annotations

import importlib
import pkgutil

from .base import Params, Shape, ShapeError, Technique

# Registration order is the order of the catalog and of "expected one of" lists;
# modules not named here follow in alphabetical order.
_ORDER = [
    "activations",
    "initialisers",
    "dense",
    "embedding",
    "conv",
    "recurrent",
    "residual",
    "transformer",
    "optimizers",
    "schedulers",
    "losses",
    "adapters",
]

FAMILIES = ("layer", "activation", "init", "optimizer", "scheduler", "loss", "adapter")
REGISTRY: dict[tuple[str, str], Technique] = {}


def register(technique: Technique) -> Technique:
    key = (technique.family, technique.name)
    if key in REGISTRY:
        raise ValueError(f"technique {key} is registered twice")
    if technique.family not in FAMILIES:
        raise ValueError(f"unknown family {technique.family!r}")
    REGISTRY[key] = technique
    return technique


def _discover() -> None:
    found = sorted(
        m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name != "base"
    )
    for name in [n for n in _ORDER if n in found] + [n for n in found if n not in _ORDER]:
        module = importlib.import_module(f"{__name__}.{name}")
        for technique in getattr(module, "TECHNIQUES", ()):
            register(technique)


_discover()


def family(name: str) -> dict[str, Technique]:
    """The techniques of one family, in registration order."""
    return {t.name: t for (f, _), t in REGISTRY.items() if f == name}


def get(family_name: str, name: str) -> Technique:
    return REGISTRY[(family_name, name)]


__all__ = ["FAMILIES", "REGISTRY", "Params", "Shape", "ShapeError", "Technique", "family", "get", "register"]

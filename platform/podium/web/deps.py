"""The other apps' selectors and services, looked up when a page needs them.

The site is built beside the apps it shows. A page asks for a function here and,
while that part has not landed, tells the visitor so instead of faking data.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class Missing(Exception):
    """A part of the platform this page needs is not available (yet)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def get(module: str, name: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise Missing(f"{module}.{name}")
    fn = getattr(mod, name, None)
    if fn is None:
        raise Missing(f"{module}.{name}")
    return fn


def has(module: str, name: str) -> bool:
    try:
        get(module, name)
    except Missing:
        return False
    return True

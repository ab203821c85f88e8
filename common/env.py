"""Typed readers of the environment that fail loudly on a bad value, for every process.

A typo in PODIUM_DEBUG or a malformed number stops start-up with a message that names
the variable; nothing guesses. An empty number counts as unset; an empty boolean is false.
"""

from __future__ import annotations

import os


class EnvError(ValueError):
    pass


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise EnvError(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(
        f"environment variable {name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)"
    )


def _bounded(name, value, minimum, maximum):
    if minimum is not None and value < minimum:
        raise EnvError(f"environment variable {name}={value} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise EnvError(f"environment variable {name}={value} must be <= {maximum}")
    return value


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EnvError(f"environment variable {name}={raw!r} is not an integer") from None
    return _bounded(name, value, minimum, maximum)


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise EnvError(f"environment variable {name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise EnvError(f"environment variable {name}={raw!r} is not a finite number")
    return _bounded(name, value, minimum, maximum)


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]

"""The example model configs (examples/*.yaml) offered as templates in the editor, and
which of them fit a competition."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache


@lru_cache(maxsize=1)
def _load(root: str) -> dict[str, str]:
    from pathlib import Path

    folder = Path(root) / "examples"
    if not folder.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.y*ml"))}


def templates() -> dict[str, str]:
    return _load(str(settings.BASE_DIR))


def _type_of(info: dict) -> str:
    if "enum" in info:
        return " | ".join(str(v) for v in info["enum"])
    if "anyOf" in info:
        return " | ".join(_type_of(x) for x in info["anyOf"] if x.get("type") != "null") or "any"
    if "const" in info:
        return repr(info["const"])
    kind = info.get("type", "")
    bounds = []
    for key, sym in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in info:
            bounds.append(f"{sym}{info[key]}")
    return f"{kind} {' '.join(bounds)}".strip() if kind else "object"


@lru_cache(maxsize=1)
def catalog() -> list[dict]:
    """The technique catalog from workers.spec, grouped by family, parameters as rows (built
    once per process from code: it only changes with a release)."""
    try:
        from workers.spec import techniques_catalog
    except ImportError:
        return []
    families: dict[str, list[dict]] = {}
    for item in techniques_catalog():
        params = [
            {
                "name": name,
                "type": _type_of(info),
                "default": info.get("default") if not info.get("required") else None,
                "required": bool(info.get("required")),
            }
            for name, info in (item.get("parameters") or {}).items()
        ]
        families.setdefault(item.get("family", ""), []).append(
            {"name": item["name"], "why": item.get("why", ""), "params": params}
        )
    return [{"family": fam, "items": items} for fam, items in families.items()]


_EPOCHS_LINE = re.compile(r"^(?P<head>\s*epochs:\s*)(?P<n>\d+)(?P<tail>.*)$", re.MULTILINE)


def clamp_epochs(text: str, budget_epochs: int) -> str:
    """The template with every `epochs:` above the competition's budget lowered to it (its
    comments kept): an example written for a longer budget still runs here."""

    def clamp(match: re.Match) -> str:
        n = int(match["n"])
        return f"{match['head']}{min(n, budget_epochs)}{match['tail']}" if budget_epochs else match[0]

    return _EPOCHS_LINE.sub(clamp, text)


def templates_for(competition, phase=None) -> dict[str, str]:
    """The examples that fit this competition's phase (the current one when none is named) as
    offered: epochs clamped to its budget, and only those its own intake accepts (data type,
    shapes, parameters), checked by the same `config_validate` the Submit button runs.

    Validating every example costs a few hundred milliseconds, so the answer is kept in this
    process and in the shared cache: a new server process does not pay it again on its first
    Submit page (that cold page was the slowest page of the load test)."""
    from podium.competitions.selectors import competition_phase

    phase = phase or competition_phase(competition=competition)
    if not phase.accepts_configs:
        return {}
    dataset = phase.dataset
    key = (
        f"examples-fitting:{_examples_version()}:{competition.pk}:{phase.pk}:{dataset.slug}:v{dataset.version}"
        f":{phase.budget_epochs}:{phase.budget_params}"
    )
    return dict(_fitting(key, phase))


@lru_cache(maxsize=1)
def _examples_version() -> str:
    """A digest of the example files: a changed example is a new cache key, never a stale answer."""
    digest = hashlib.sha256()
    for name, text in templates().items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:16]


def _fitting(key: str, phase) -> tuple[tuple[str, str], ...]:
    cached = _FITTING.get(key)
    if cached is not None:
        return cached
    shared = cache.get(key)
    if shared is None:
        shared = _validate_examples(phase)
        cache.set(key, shared, FITTING_CACHE_SECONDS)
    if len(_FITTING) > 256:
        _FITTING.clear()
    _FITTING[key] = tuple(tuple(pair) for pair in shared)
    return _FITTING[key]


def _validate_examples(phase) -> list[tuple[str, str]]:
    from podium.errors import ApplicationError
    from podium.submissions.validation import config_validate

    fitting = []
    for name, text in templates().items():
        clamped = clamp_epochs(text, phase.budget_epochs)
        try:
            config_validate(phase=phase, text=clamped)
        except (ApplicationError, KeyError):
            # Refused by the intake, or a manifest without the shape a config needs (a
            # predictions-only dataset): not offered either way.
            continue
        fitting.append((name, clamped))
    return fitting


# A day: the key changes with the examples, the phase's dataset and budget, so this only
# bounds what an unused competition leaves in the cache.
FITTING_CACHE_SECONDS = 24 * 3600
_FITTING: dict[str, tuple[tuple[str, str], ...]] = {}

"""The example model configs (examples/*.yaml) offered as templates in the editor, and
which of them fit a competition."""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings


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


def catalog() -> list[dict]:
    """The technique catalog from workers.spec, grouped by family, parameters as rows."""
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


def templates_for(competition) -> dict[str, str]:
    """The examples that fit this competition as offered: epochs clamped to its budget, and
    only those its own intake accepts (data type, shapes, parameters), checked by the same
    `config_validate` the Submit button runs. Cached per competition and budget."""
    if not competition.accepts_configs:
        return {}
    key = (competition.pk, competition.dataset_id, competition.budget_epochs, competition.budget_params)
    return dict(_fitting(key, competition))


def _fitting(key, competition) -> tuple[tuple[str, str], ...]:
    cached = _FITTING.get(key)
    if cached is not None:
        return cached
    from podium.competitions.selectors import competition_phase
    from podium.errors import ApplicationError
    from podium.submissions.validation import config_validate

    fitting = []
    for name, text in templates().items():
        clamped = clamp_epochs(text, competition.budget_epochs)
        try:
            config_validate(phase=competition_phase(competition=competition), text=clamped)
        except (ApplicationError, KeyError):
            # Refused by the intake, or a manifest without the shape a config needs (a
            # predictions-only dataset): not offered either way.
            continue
        fitting.append((name, clamped))
    if len(_FITTING) > 256:
        _FITTING.clear()
    _FITTING[key] = tuple(fitting)
    return _FITTING[key]


_FITTING: dict[tuple, tuple[tuple[str, str], ...]] = {}

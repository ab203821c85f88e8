"""The example model configs (examples/*.yaml) offered as templates in the editor."""

from __future__ import annotations

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

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


def catalog() -> list[dict]:
    """The technique catalog from workers.spec (families, parameters, defaults, why)."""
    try:
        from workers.spec import techniques_catalog
    except ImportError:
        return []
    return techniques_catalog()

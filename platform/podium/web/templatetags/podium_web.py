from __future__ import annotations

from django import template

from podium.competitions.selectors import competition_status
from podium.web.rendering import render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return render_markdown(text)


@register.filter
def score(value, digits: int = 5):
    if value is None:
        return "—"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def signed(value, digits: int = 5):
    """A difference with its sign always written: "+0.0123", "-0.0040"."""
    if value is None:
        return "—"
    try:
        return f"{float(value):+.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def phase(competition) -> str:
    """open, upcoming or past, as the competitions app defines it."""
    return competition_status(competition)


@register.filter
def filesize(n) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def duration(value) -> str:
    """A timedelta (or a number of seconds) as a person reads it: "42 s", "3 min 05 s", "1 h 02 min"."""
    if value is None:
        return "—"
    s = max(int(value if isinstance(value, (int, float)) else value.total_seconds()), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"

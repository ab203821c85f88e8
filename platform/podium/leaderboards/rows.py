"""Values of a board row: the rank key every board sorts by, and timestamps read by raw SQL."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime


def rank_key(*, higher_is_better: bool, score: float) -> float:
    """Lower is better on every board, whatever the metric's direction."""
    return -score if higher_is_better else score


def aware(value: datetime | str | None) -> datetime | None:
    """A timestamp read by a raw cursor: SQLite hands it back naive (UTC) or as text,
    PostgreSQL aware; the ORM would have made it aware."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

"""The refusal of a login while django-axes locks its account or address out."""

from __future__ import annotations

import math

from django.conf import settings

from podium.errors import LimitReached


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def login_lockout_error() -> LimitReached:
    """429 with Retry-After: the whole cool-off, since the refused attempt itself restarted it
    (axes' AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT, on by default)."""
    seconds = max(int(settings.AXES_COOLOFF_TIME.total_seconds()), 1)
    return LimitReached(
        f"Too many failed logins for this account or address; try again in {_in_words(seconds)}.",
        code="login_locked_out",
        retry_after=seconds,
    )

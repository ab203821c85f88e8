"""The intake's own refusals; the rest are podium.errors' NotAllowed, Conflict and TooLarge."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from common.problems import Problem
from podium.errors import ApplicationError, LimitReached, NotAllowed


class SubmissionInvalid(ApplicationError):
    """The entry itself is wrong: every problem found (the first MAX_PROBLEMS) is listed."""

    def __init__(self, detail: str, problems: Iterable[Problem] = ()):
        super().__init__(detail, problems=problems)


class SubmissionLimitReached(LimitReached):
    """A daily or total limit is used up; the answer says which, and when the daily one resets."""

    def __init__(self, *, limit: str, allowed: int, used: int, resets_at: datetime | None, scope: str):
        self.limit = limit
        self.allowed = allowed
        self.used = used
        self.resets_at = resets_at
        self.scope = scope
        if limit == "daily":
            detail = (
                f"Daily submission limit reached: {used} of {allowed} entries today (UTC) for this {scope}. "
                f"It resets at {resets_at:%Y-%m-%d %H:%M} UTC."
            )
        else:
            detail = f"Total submission limit reached: {used} of {allowed} entries for this {scope}."
        super().__init__(
            detail,
            extra={
                "limit": limit,
                "allowed": allowed,
                "used": used,
                "scope": scope,
                "resets_at": resets_at.isoformat().replace("+00:00", "Z") if resets_at else None,
            },
            retry_after=int((resets_at - timezone.now()).total_seconds()) if resets_at else None,
        )


class EntrantDisqualified(NotAllowed):
    """The participant (or their team) was disqualified from this competition; the reason is theirs to read."""

    def __init__(self, *, competition, team: bool, reason: str):
        who = "Your team was" if team else "You were"
        super().__init__(
            f"{who} disqualified from '{competition.slug}': {reason}. No more entries are accepted; "
            "write to its hosts if you think this is a mistake.",
            code="disqualified",
            extra={"reason": reason},
        )

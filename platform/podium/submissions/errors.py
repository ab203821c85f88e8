"""Domain errors of the submission services; the API layer turns them into responses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an entry, located as precisely as the input allows."""

    message: str
    row: int | None = None
    column: str | None = None
    path: str | None = None

    def as_dict(self) -> dict:
        out: dict = {"message": self.message}
        for key in ("row", "column", "path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class SubmissionError(Exception):
    status_code = 400

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)

    def body(self) -> dict:
        return {"detail": self.detail}


class SubmissionInvalid(SubmissionError):
    """The entry itself is wrong: every problem found (the first 20) is listed."""

    MAX_PROBLEMS = 20

    def __init__(self, detail: str, problems: list[Problem]):
        super().__init__(detail)
        self.problems = list(problems)[: self.MAX_PROBLEMS]

    def body(self) -> dict:
        return {"detail": self.detail, "problems": [p.as_dict() for p in self.problems]}


class SubmissionTooLarge(SubmissionInvalid):
    status_code = 413


class SubmissionNotAllowed(SubmissionError):
    """The person may not submit here now (not joined, outside the window)."""

    status_code = 403


class SubmissionConflict(SubmissionError):
    """The entry's state does not allow this (final already, superseded attempt)."""

    status_code = 409


class SubmissionLimitReached(SubmissionError):
    status_code = 429

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
        super().__init__(detail)

    def body(self) -> dict:
        return {
            "detail": self.detail,
            "limit": self.limit,
            "allowed": self.allowed,
            "used": self.used,
            "scope": self.scope,
            "resets_at": self.resets_at.isoformat().replace("+00:00", "Z") if self.resets_at else None,
        }

"""One thing wrong with an input, located as precisely as the input allows, and the error that
carries a capped list of them.

Every validator of the platform reports through these: uploaded datasets (file, row,
column), prediction files (row, column, id), model configs (path). The API answers
`{detail, problems: [Problem.as_dict()…], total}` from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_PROBLEMS = 20  # listed in an answer; the rest are only counted
# A user's value shown back in a problem: enough to recognise it, never the whole of a
# 4 MB header line.
MAX_ECHO_CHARS = 200


def clip(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """A user's value as text, cut to `limit` characters with its full length said."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def echo(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """A user's value quoted in a message (as `!r` would), cut to `limit` characters."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


@dataclass(frozen=True)
class Problem:
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    id: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        # Where a problem is located comes from the input itself (a header's column name, an id).
        for key in ("column", "id", "path"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, clip(value))

    def where(self) -> str:
        parts = [self.file] if self.file else []
        if self.path:
            parts.append(self.path)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.id is not None:
            parts.append(f"id {self.id!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        """The located fields that are set, and the message."""
        out: dict = {"message": self.message}
        for key in ("file", "row", "column", "id", "path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class ProblemList:
    """Collects problems, keeping the first MAX_PROBLEMS and counting all of them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0

    def add(self, message: str, **where) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(message, **where))

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.total += 1
            if len(self.items) < MAX_PROBLEMS:
                self.items.append(problem)

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    def raise_if_any(self, error: type[ProblemsError], **kwargs) -> None:
        if self.total:
            raise error(self.items, total=self.total, **kwargs)


class ProblemsError(ValueError):
    """An input the platform refuses: `.problems` (at most MAX_PROBLEMS), `.total` (all found).

    Subclasses name the input in `subject` ("the upload", "the predictions file", "the
    model config"): one error type, one answer shape, whichever validator raised it.
    """

    subject = "the input"

    def __init__(self, problems: Iterable[Problem], total: int | None = None):
        listed = list(problems)
        self.problems: list[Problem] = listed[:MAX_PROBLEMS]
        self.total = max(total or 0, len(listed))
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.total} problem{'s' if self.total != 1 else ''} in {self.subject}:"]
        lines += [f"- {p}" for p in self.problems]
        if self.total > len(self.problems):
            lines.append(f"- … and {self.total - len(self.problems)} more")
        return "\n".join(lines)

    def as_dicts(self) -> list[dict]:
        return [p.as_dict() for p in self.problems]

"""Errors of the client: every API error answer becomes one readable exception."""

from __future__ import annotations

from typing import Any


class PodiumError(Exception):
    """Anything the client cannot do; `str()` is a message fit for a terminal."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConnectionFailed(PodiumError):
    """The server could not be reached (after the retries); `reason` is the network's word."""

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


class ApiError(PodiumError):
    """The server answered with an error status.

    `problems` holds the individual problems the API listed (validation errors
    name a field, a row or a config path), already formatted as lines.
    """

    def __init__(self, status: int, message: str, *, problems: list[str] | None = None, body: Any = None):
        self.status = status
        self.problems = problems or []
        self.body = body
        text = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)
        self.summary = message
        # What the server said, without the request: a terminal shows this (the CLI), a log the whole message.
        self.detail = message
        self.method: str | None = None
        self.url: str | None = None


class AuthError(ApiError):
    """401/403: no token, a wrong or revoked token, or not allowed."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: for a worker, the attempt is no longer current or the entry was cancelled."""


class RateLimited(ApiError):
    """429: a submission limit; `reset_at` says when it resets, when the API says."""

    def __init__(self, *args, reset_at: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_at = reset_at


class ValidationFailed(ApiError):
    """400: the request was refused; `problems` lists what is wrong and where."""


_BY_STATUS: dict[int, type[ApiError]] = {400: ValidationFailed, 401: AuthError, 403: AuthError, 404: NotFound}
_BY_STATUS[409] = Conflict
_BY_STATUS[413] = ValidationFailed
_BY_STATUS[422] = ValidationFailed


def _format_problem(item: Any) -> str:
    if isinstance(item, dict):
        message = item.get("message") or item.get("detail") or item.get("msg")
        where_parts = []
        for key in ("file", "path", "field", "row", "column", "line", "loc"):
            value = item.get(key)
            if value not in (None, "", []):
                where_parts.append(f"{key} {value}" if key in ("row", "line", "column") else str(value))
        where = ", ".join(where_parts)
        if message is None:
            rest = {
                k: v for k, v in item.items() if k not in ("file", "path", "field", "row", "column", "line")
            }
            message = "; ".join(f"{k}: {v}" for k, v in rest.items()) or str(item)
        return f"{where}: {message}" if where else str(message)
    return str(item)


def _field_errors(body: dict) -> list[str]:
    lines = []
    for field, value in body.items():
        if field in ("detail", "problems", "message", "error", "reset_at", "code"):
            continue
        # DRF field errors are lists (or nested dicts); scalars are extra facts, not problems.
        if not isinstance(value, (list, dict)):
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                lines.extend(f"{field}.{line}" for line in _field_errors(v))
            else:
                lines.append(f"{field}: {v}")
    return lines


def error_from_response(status: int, body: Any, *, method: str, url: str) -> ApiError:
    """Build the exception for an error answer; the message names what the server said."""
    problems: list[str] = []
    reset_at = None
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or body.get("error")
        raw_problems = body.get("problems") or body.get("errors")
        if isinstance(raw_problems, list):
            problems = [_format_problem(p) for p in raw_problems]
        elif isinstance(raw_problems, dict):
            problems = _field_errors(raw_problems)
        problems += _field_errors(body)
        reset_at = body.get("reset_at") or body.get("resets_at")
        if isinstance(detail, list):
            problems = [_format_problem(p) for p in detail] + problems
            detail = None
        if not detail:
            detail = "the request was refused" if problems else f"HTTP {status}"
        message = str(detail)
    elif isinstance(body, list):
        problems = [_format_problem(p) for p in body]
        message = "the request was refused"
    else:
        text = (body or "").strip() if isinstance(body, str) else ""
        # An HTML error page says nothing useful in a terminal; keep the first line of plain text.
        if text and not text.lstrip().startswith("<"):
            message = text.splitlines()[0][:300]
        else:
            message = f"HTTP {status}"
    detail = message
    message = f"{method} {url}: {message} (HTTP {status})"
    cls = _BY_STATUS.get(status, ApiError)
    if status == 429:
        error = RateLimited(status, message, problems=problems, body=body, reset_at=reset_at)
    else:
        error = cls(status, message, problems=problems, body=body)
    error.detail, error.method, error.url = detail, method, url
    return error

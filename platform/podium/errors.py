"""The one application error of the web tier, its one DRF exception handler, its page message,
and the site's error answers (JSON under /api/, pages elsewhere).

A service raises `ApplicationError` (or a subclass that fixes the status) with a detail a
person can act on; the API answers `{detail, code?, problems?, total?, …extra}` with that
status (and `Retry-After` when the error carries one); a page shows the detail and the
problems as a message. Services never build responses; views never invent messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.problems import MAX_PROBLEMS, Problem, ProblemsError


class ApplicationError(Exception):
    """A request the platform refuses for a reason a person can act on."""

    status_code = 400

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        problems: Iterable[Problem] = (),
        total: int | None = None,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
        status_code: int | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        listed = list(problems)
        self.problems = listed[:MAX_PROBLEMS]
        self.total = max(total or 0, len(listed)) if listed or total else None
        self.extra = dict(extra or {})
        self.retry_after = retry_after
        if status_code is not None:
            self.status_code = status_code

    @classmethod
    def from_problems(cls, detail: str, error: ProblemsError, **kwargs) -> ApplicationError:
        return cls(detail, problems=error.problems, total=error.total, **kwargs)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.detail}
        if self.code is not None:
            out["code"] = self.code
        if self.problems:
            out["problems"] = [p.as_dict() for p in self.problems]
            if self.total is not None and self.total > len(self.problems):
                out["total"] = self.total
        out.update(self.extra)
        return out


class NotAllowed(ApplicationError):
    """The person may not do this here now (not joined, outside the window, not a member)."""

    status_code = 403


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    """The object's state does not allow this (final already, superseded attempt)."""

    status_code = 409


class TooLarge(ApplicationError):
    status_code = 413


class LimitReached(ApplicationError):
    status_code = 429


def request_refusal(exc: Exception) -> ApplicationError | None:
    """Django's refusals of a request body past its limits, as the application error they are.

    Django raises these while parsing the body (a form field past DATA_UPLOAD_MAX_MEMORY_SIZE,
    too many fields or files); left alone they become a bare HTML 400, which an API
    client cannot read."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return TooLarge(
            f"The request body (beside uploaded files) is larger than the limit of {limit:,} bytes; "
            "nothing was stored.",
            extra={"limit": limit},
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return ApplicationError(
            f"The request has more than {limit:,} fields; nothing was stored.", extra={"limit": limit}
        )
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return ApplicationError(
            f"The request has more than {limit:,} files; nothing was stored.", extra={"limit": limit}
        )
    return None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: application errors as their body and status."""
    exc = request_refusal(exc) or exc
    if isinstance(exc, ApplicationError):
        response = Response(exc.body(), status=exc.status_code)
        if exc.retry_after is not None:
            response["Retry-After"] = str(max(int(exc.retry_after), 1))
        return response
    if isinstance(exc, DjangoValidationError):
        # A model or form rule that reached the view: the message, as a 400.
        if hasattr(exc, "error_dict"):
            return Response(exc.message_dict, status=400)
        return Response({"detail": exc.messages[0] if exc.messages else str(exc)}, status=400)
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = drf.NotFound(str(exc) or None)
    return drf_exception_handler(exc, context)


def page_message(request, exc: ApplicationError | DjangoValidationError) -> None:
    """Show an application error on the next page rendered: the detail, then each problem.

    A model or form rule (Django's ValidationError) shows its messages, as the API answers them."""
    if isinstance(exc, DjangoValidationError):
        messages.error(request, " ".join(exc.messages))
        return
    lines = [exc.detail] + [str(p) for p in exc.problems]
    if exc.total is not None and exc.total > len(exc.problems):
        lines.append(f"… and {exc.total - len(exc.problems)} more")
    messages.error(request, "\n".join(lines))


# --- the site's own error answers (urls.handler400/403/404/500) ------------------------
#
# Under /api/ every error is JSON `{"detail": …}`, as DRF's answers are, also for a URL no
# view matches and for a crash outside DRF; elsewhere a page in the site's style. With
# DEBUG off these replace Django's pages, which would list the whole URLconf on a 404.

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _message(exception, default: str) -> str:
    # Our own Http404/PermissionDenied carry a sentence; the resolver's 404 carries a dict
    # (the URL patterns tried), which must never be shown.
    if exception is not None and exception.args and isinstance(exception.args[0], str) and exception.args[0]:
        return exception.args[0]
    return default


def _answer(request, *, status: int, title: str, detail: str) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": detail}, status=status)
    return render(
        request, f"{status}.html", {"status": status, "title": title, "detail": detail}, status=status
    )


def bad_request(request, exception=None) -> HttpResponse:
    """A request Django refused before any view could. A body past its limits is an
    application error with the limit in it (413, or 400 for too many fields); any other
    refusal (a suspicious operation, whose text names server settings) is not echoed."""
    refusal = request_refusal(exception) if exception is not None else None
    if refusal is None:
        return _answer(
            request, status=400, title="Bad request", detail="The request could not be understood."
        )
    if _is_api(request):
        return JsonResponse(refusal.body(), status=refusal.status_code)
    return render(request, "web/request_refused.html", {"detail": refusal.detail}, status=refusal.status_code)


def permission_denied(request, exception=None) -> HttpResponse:
    detail = _message(exception, "You may not see this.")
    return _answer(request, status=403, title="Not allowed", detail=detail)


def page_not_found(request, exception=None) -> HttpResponse:
    if _is_api(request):
        default = f"No API resource at {request.path}. The API's index is {API_PREFIX}."
    else:
        default = "There is no page at this address."
    return _answer(request, status=404, title="Not found", detail=_message(exception, default))


def server_error(request) -> HttpResponse:
    detail = "The server failed to answer this request. The error was logged; please try again later."
    if _is_api(request):
        return JsonResponse({"detail": detail}, status=500)
    # Rendered without the request: its context processors (the session, the database) may be
    # what failed.
    return HttpResponseServerError(loader.get_template("500.html").render({"detail": detail}))

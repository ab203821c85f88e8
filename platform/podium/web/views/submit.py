"""The Submit tab: a predictions CSV, or a model config in the editor with live validation."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from podium.competitions.selectors import competition_get, competition_phase
from podium.competitions.upload_handlers import CappedUploadHandler, install_capped_handler
from podium.errors import ApplicationError, request_refusal
from podium.submissions.limits import submission_usage
from podium.submissions.services import submission_create
from podium.submissions.uploads import UploadTooLarge
from podium.submissions.validation import config_check
from podium.teams.selectors import team_for
from podium.web import config_lines, examples
from podium.web.views.common import competition_context, is_participant

MAX_CONFIG_CHARS = 100_000


def _kind(request, phase) -> str:
    kind = request.POST.get("kind") or request.GET.get("kind")
    if kind not in {"config", "predictions"}:
        kind = "config" if phase.accepts_configs else "predictions"
    return kind


def _problems(exc: ApplicationError, text: str | None) -> list[dict]:
    """The refusal's problems for the page: a config's located on its lines, a file's by row and column."""
    if text is not None:
        return config_lines.locate(text, exc.problems)
    return [
        {"message": p.message, "where": replace(p, path=None).where(), "path": p.path or ""}
        for p in exc.problems
    ]


@login_required
@csrf_exempt
def submit(request, slug):
    # The cap goes in front of Django's upload handlers before anything reads the body, and
    # CSRF checking reads it: hence csrf_exempt here and csrf_protect on the page itself.
    capped = None
    if request.method == "POST":
        capped = install_capped_handler(request, max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES)
        try:
            request.POST  # noqa: B018  (the body is read here, under the cap)
        except RequestDataTooBig as exc:
            # The form's text fields alone are past Django's limit: nothing was parsed, so
            # the page says so instead of a bare 400 (nothing is stored, CSRF is moot).
            return _submit_page(request, slug, capped, refused=request_refusal(exc))
    return csrf_protect(_submit_page)(request, slug, capped)


def _submit_page(request, slug, capped: CappedUploadHandler | None, refused: ApplicationError | None = None):
    # A refused entry re-renders the form (200) with the reasons beside the field, as a
    # Django form does; the REST API is where the 4xx status codes are the contract.
    ctx = competition_context(request, slug, "submit")
    competition = ctx["competition"]
    kind = _kind(request, ctx["current_phase"])
    ctx.update(
        kind=kind,
        templates=examples.templates_for(competition, ctx["current_phase"]),
        catalog=examples.catalog(),
        problems=[],
        config_text="",
    )
    if ctx["is_participant"]:
        team = team_for(competition=competition, user=request.user)
        ctx["usage"] = submission_usage(
            phase=ctx["current_phase"], user=request.user, team=team, now=timezone.now()
        )
    if refused is not None:
        ctx["error"] = refused.detail
        return render(request, "web/competition/submit.html", ctx, status=refused.status_code)
    if request.method == "POST":
        description = (request.POST.get("description") or "")[:500]
        ctx["description"] = description
        try:
            if kind == "config":
                text = request.POST.get("config", "")
                ctx["config_text"] = text
                if len(text) > MAX_CONFIG_CHARS:
                    ctx["error"] = (
                        f"The config is {len(text)} characters long; the limit is {MAX_CONFIG_CHARS}."
                    )
                    return render(request, "web/competition/submit.html", ctx)
                submission, _usage = submission_create(
                    competition=competition, user=request.user, config_text=text, description=description
                )
            else:
                if capped is not None and capped.too_large:
                    raise UploadTooLarge(field="file", cap=capped.max_bytes)
                upload = request.FILES.get("file")
                if upload is None:
                    ctx["file_error"] = "Choose a predictions CSV file to upload."
                    return render(request, "web/competition/submit.html", ctx)
                submission, _usage = submission_create(
                    competition=competition,
                    user=request.user,
                    predictions_file=upload,
                    description=description,
                )
        except ApplicationError as exc:
            ctx["error"] = exc.detail
            ctx["problems"] = _problems(exc, ctx["config_text"] if kind == "config" else None)
            ctx["error_lines"] = sorted({p["line"] for p in ctx["problems"] if p.get("line")})
            return render(request, "web/competition/submit.html", ctx)
        messages.success(
            request,
            f"Submission #{submission.pk} received — it is {submission.get_status_display().lower()}.",
        )
        for warning in submission.config_warnings:
            messages.warning(request, f"{warning.get('path') or 'config'}: {warning['message']}")
        return redirect("web:my_submissions", slug=slug)
    if "template" in request.GET and request.GET["template"] in ctx["templates"]:
        ctx["config_text"] = ctx["templates"][request.GET["template"]]
    return render(request, "web/competition/submit.html", ctx)


@login_required
@require_POST
def validate(request, slug):
    """htmx: validate the editor's text the way the intake will, and say where it is wrong."""
    competition = competition_get(slug=slug, user=request.user)
    text = request.POST.get("config", "")
    ctx = {"problems": [], "empty": not text.strip()}
    if ctx["empty"]:
        return render(request, "web/partials/validation.html", ctx)
    if len(text) > MAX_CONFIG_CHARS:
        ctx["problems"] = [
            {"message": f"The config is longer than {MAX_CONFIG_CHARS} characters.", "line": None}
        ]
        return render(request, "web/partials/validation.html", ctx)
    try:
        ctx["warnings"] = config_check(phase=competition_phase(competition=competition), text=text)[1]
    except ApplicationError as exc:
        ctx["problems"] = _problems(exc, text)
        # The intake's own detail says "nothing was stored"; here nothing was submitted yet,
        # so the editor counts what is wrong instead.
        ctx["count"] = getattr(exc, "total", None) or len(ctx["problems"])
        ctx["detail"] = None if exc.problems else exc.detail
    else:
        ctx["not_joined"] = not is_participant(competition, request.user)
    ctx["error_lines"] = sorted({p["line"] for p in ctx["problems"] if p.get("line")})
    return render(request, "web/partials/validation.html", ctx)

"""My submissions (live), one submission's page (curves, config, scores) and compare."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from podium.web import charts, deps, sources
from podium.web.views.common import competition_context
from podium.web.views.public import _message

ACTIVE = {"created", "queued", "running", "scoring"}


def _rows_context(request, ctx) -> dict:
    try:
        rows = sources.my_submissions(ctx["competition"], request.user)
    except deps.Missing as exc:
        ctx["missing"] = exc.what
        rows = []
    ctx["rows"] = rows
    ctx["polling"] = any(r.status in ACTIVE for r in rows)
    ctx["budget_epochs"] = ctx["competition"].budget_epochs
    return ctx


@login_required
def my_submissions(request, slug):
    ctx = _rows_context(request, competition_context(request, slug, "mine"))
    try:
        ctx["team"] = sources.team_for(ctx["competition"], request.user)
    except deps.Missing:
        ctx["team_missing"] = True
    return render(request, "web/competition/mine.html", ctx)


@login_required
def my_submissions_rows(request, slug):
    """htmx: the table body, polled every two seconds while an entry is still moving."""
    ctx = _rows_context(request, {"competition": sources.competition_for(slug, request.user)})
    return render(request, "web/partials/my_rows.html", ctx)


@login_required
@require_POST
def cancel(request, submission_id):
    submission = sources.submission_for(submission_id, request.user)
    if submission.user_id != request.user.pk:
        raise Http404("No such submission")
    try:
        sources.cancel(submission, request.user)
    except deps.Missing:
        messages.error(request, "Cancelling is not available on this server yet.")
    except sources.submission_errors().SubmissionError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Submission #{submission.pk} cancelled.")
    return redirect("web:my_submissions", slug=submission.competition.slug)


@login_required
@require_POST
def final_pick(request, submission_id):
    submission = sources.submission_for(submission_id, request.user)
    picked = request.POST.get("picked") == "1"
    try:
        sources.final_pick(submission, request.user, picked)
    except deps.Missing:
        messages.error(request, "Final picks are not available on this server yet.")
    except Exception as exc:
        if exc.__class__.__name__ not in {
            "ValidationError",
            "ServiceError",
            "PermissionDenied",
        } and not isinstance(exc, sources.submission_errors().SubmissionError):
            raise
        messages.error(request, getattr(exc, "detail", None) or _message(exc))
    else:
        messages.success(
            request,
            f"Submission #{submission.pk} {'is now a final pick' if picked else 'is no longer a final pick'}.",
        )
    return redirect("web:my_submissions", slug=submission.competition.slug)


def detail(request, submission_id):
    submission = sources.submission_for(submission_id, request.user)
    ctx = competition_context(request, submission.competition.slug, "mine")
    ctx["submission"] = submission
    ctx["is_owner"] = request.user.is_authenticated and submission.user_id == request.user.pk
    try:
        epochs = sources.epochs_of(submission, request.user)
    except deps.Missing as exc:
        ctx["missing"] = exc.what
        epochs = []
    ctx["epochs"] = epochs
    ctx["charts"] = charts.submission_charts(epochs) if epochs else None
    try:
        ctx["private_visible"] = sources.private_scores_visible(submission.competition, request.user)
    except deps.Missing:
        ctx["private_visible"] = False
    return render(request, "web/submission/detail.html", ctx)


def detail_status(request, submission_id):
    """htmx: the status card of one entry, polled while it is running."""
    submission = sources.submission_for(submission_id, request.user)
    try:
        epochs = sources.epochs_of(submission, request.user)
    except deps.Missing:
        epochs = []
    response = render(request, "web/partials/status_card.html", {"submission": submission, "epochs": epochs})
    seen = (request.GET.get("status"), request.GET.get("epochs"))
    if seen != (submission.status, str(len(epochs))):
        # A new epoch or a new state: reload the page so curves and scores follow live.
        response["HX-Refresh"] = "true"
    return response


@login_required
def predictions(request, submission_id):
    submission = sources.submission_for(submission_id, request.user)
    try:
        handle, name = sources.predictions_file(submission, request.user)
    except deps.Missing:
        raise Http404("Predictions download is not available on this server yet")
    return FileResponse(handle, as_attachment=True, filename=name, content_type="text/csv")


@login_required
def compare(request, slug):
    ctx = competition_context(request, slug, "mine")
    try:
        rows = sources.my_submissions(ctx["competition"], request.user)
    except deps.Missing as exc:
        ctx["missing"] = exc.what
        rows = []
    ctx["rows"] = rows
    ids = [r.pk for r in rows]
    wanted = [int(v) for v in (request.GET.get("a", ""), request.GET.get("b", "")) if v.isdigit()]
    # Preselect what was asked for, else the two newest entries.
    ctx["sel_a"] = wanted[0] if wanted else (ids[1] if len(ids) > 1 else (ids[0] if ids else None))
    ctx["sel_b"] = wanted[1] if len(wanted) > 1 else next((i for i in ids if i != ctx["sel_a"]), None)
    picked = []
    for key in ("a", "b"):
        raw = request.GET.get(key, "")
        if raw.isdigit():
            sub = sources.submission_for(int(raw), request.user)
            if sub.user_id != request.user.pk or sub.competition_id != ctx["competition"].pk:
                raise Http404("No such submission")
            picked.append(sub)
    if len(picked) == 2:
        a, b = picked
        ea, eb = sources.epochs_of(a, request.user), sources.epochs_of(b, request.user)
        ctx.update(a=a, b=b, diff=charts.config_diff(a, b), charts=charts.compare_charts(a, ea, b, eb))
    return render(request, "web/submission/compare.html", ctx)

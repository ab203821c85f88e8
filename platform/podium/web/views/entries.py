"""My submissions (live), one submission's page (curves, config, scores) and compare."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from podium.competitions.selectors import competition_get, competition_phase, submission_phase
from podium.errors import ApplicationError, page_message
from podium.lab.models import BASELINE_KEY
from podium.lab.selectors import ablation_list, ablation_status, is_ablatable
from podium.leaderboards.services import final_pick_toggle
from podium.params import InvalidParameter, query_int
from podium.submissions.models import ACTIVE_STATUSES
from podium.submissions.queue import queue_place
from podium.submissions.selectors import (
    config_variants,
    private_scores_visible,
    submission_epochs,
    submission_get,
    submission_list_with_progress,
)
from podium.submissions.services import submission_cancel
from podium.teams.selectors import (
    team_for,
    team_has_entries,
    team_join_requests,
    team_join_requests_of,
    team_members,
)
from podium.web import charts
from podium.web.entry_status import entry_status, variant_rows
from podium.web.views.common import competition_context


def _visible_submission(submission_id: int, user):
    """The entry with its epochs if `user` may see it (owner, team, staff); Http404 otherwise."""
    return submission_get(submission_id=submission_id, user=user, with_epochs=True)


def _rows_context(request, ctx) -> dict:
    rows = submission_list_with_progress(competition=ctx["competition"], user=request.user)
    ctx["rows"] = rows
    ctx["polling"] = any(r.status in ACTIVE_STATUSES for r in rows)
    ctx["budget_epochs"] = competition_phase(competition=ctx["competition"]).budget_epochs
    return ctx


@login_required
def my_submissions(request, slug):
    ctx = _rows_context(request, competition_context(request, slug, "mine"))
    team = ctx["team"] = team_for(competition=ctx["competition"], user=request.user)
    if team is not None:
        ctx["members"] = team_members(team=team)
        ctx["join_requests"] = team_join_requests(team=team, user=request.user)
        ctx["can_leave"] = not team_has_entries(team=team)
    else:
        ctx["my_requests"] = team_join_requests_of(competition=ctx["competition"], user=request.user)
    return render(request, "web/competition/mine.html", ctx)


@login_required
def my_submissions_rows(request, slug):
    """htmx: the table body, polled every two seconds while an entry is still moving."""
    ctx = _rows_context(request, {"competition": competition_get(slug=slug, user=request.user)})
    return render(request, "web/partials/my_rows.html", ctx)


@login_required
@require_POST
def cancel(request, submission_id):
    submission = _visible_submission(submission_id, request.user)
    if submission.user_id != request.user.pk:
        raise Http404("No such submission")
    try:
        submission_cancel(submission=submission)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, f"Submission #{submission.pk} cancelled.")
    return redirect("web:my_submissions", slug=submission.competition.slug)


@login_required
@require_POST
def final_pick(request, submission_id):
    submission = _visible_submission(submission_id, request.user)
    picked = request.POST.get("picked") == "1"
    try:
        if bool(submission.is_final_pick) != picked:
            final_pick_toggle(submission_id=submission.pk, user=request.user)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(
            request,
            f"Submission #{submission.pk} {'is now a final pick' if picked else 'is no longer a final pick'}.",
        )
    return redirect("web:my_submissions", slug=submission.competition.slug)


def _own_ablations(submission, user) -> list[dict]:
    """The owner's ablations of the entry for its page: each with its status and variant count."""
    return [
        {
            "pk": a.pk,
            "created_at": a.created_at,
            "status": ablation_status(a),
            "variants": sum(r.key != BASELINE_KEY for r in a.runs.all()),
        }
        for a in ablation_list(submission_id=submission.pk, user=user)
        if a.owner_id == user.pk  # staff see every ablation through the selector: here, their own
    ]


def detail(request, submission_id):
    submission = _visible_submission(submission_id, request.user)
    ctx = competition_context(request, submission.competition.slug, "mine")
    epochs = submission_epochs(submission)
    variants = config_variants(submission.config)
    report = (submission.training_report or {}).get("variants") or {}
    kept = report.get("kept")
    is_owner = request.user.is_authenticated and submission.user_id == request.user.pk
    ctx.update(
        submission=submission,
        is_owner=is_owner,
        # An ablation is its owner's alone: a teammate or staff on this page sees none.
        ablations=_own_ablations(submission, request.user) if is_owner else [],
        can_ablate=is_owner and is_ablatable(submission),
        epochs=epochs,
        facts=entry_status(submission, epochs),
        queue=queue_place(submission=submission),
        charts=charts.submission_charts(epochs, variants=variants, kept=kept) if epochs else None,
        variants=variant_rows(variants, report),
        private_visible=private_scores_visible(
            competition=submission.competition, user=request.user, phase=submission_phase(submission)
        ),
    )
    return render(request, "web/submission/detail.html", ctx)


def detail_status(request, submission_id):
    """htmx: the status card of one entry, polled while it is running."""
    submission = _visible_submission(submission_id, request.user)
    epochs = submission_epochs(submission)
    context = {
        "submission": submission,
        "epochs": epochs,
        "facts": entry_status(submission, epochs),
        "queue": queue_place(submission=submission),
    }
    response = render(request, "web/partials/status_card.html", context)
    seen = (request.GET.get("status"), request.GET.get("epochs"))
    if seen != (submission.status, str(len(epochs))):
        # A new epoch or a new state: reload the page so curves and scores follow live.
        response["HX-Refresh"] = "true"
    return response


@login_required
def predictions(request, submission_id):
    submission = _visible_submission(submission_id, request.user)
    if not submission.predictions:
        raise Http404("This entry has no predictions file yet.")
    return FileResponse(
        submission.predictions.open("rb"),
        as_attachment=True,
        filename=f"submission-{submission.pk}.csv",
        content_type="text/csv",
    )


@login_required
def compare(request, slug):
    ctx = competition_context(request, slug, "mine")
    rows = submission_list_with_progress(competition=ctx["competition"], user=request.user)
    ctx["rows"] = rows
    ids = [r.pk for r in rows]
    status = 200
    try:
        asked = [query_int(request.GET, key) for key in ("a", "b")]
    except InvalidParameter as exc:
        page_message(request, exc)
        asked, status = [], 400
    wanted = [pk for pk in asked if pk is not None]
    # Preselect what was asked for, else the two newest entries.
    ctx["sel_a"] = wanted[0] if wanted else (ids[1] if len(ids) > 1 else (ids[0] if ids else None))
    ctx["sel_b"] = wanted[1] if len(wanted) > 1 else next((i for i in ids if i != ctx["sel_a"]), None)
    picked = []
    for pk in wanted:
        sub = _visible_submission(pk, request.user)
        if sub.user_id != request.user.pk or sub.competition_id != ctx["competition"].pk:
            raise Http404("No such submission")
        picked.append(sub)
    if len(picked) == 2:
        a, b = picked
        ea, eb = submission_epochs(a), submission_epochs(b)
        ctx.update(a=a, b=b, diff=charts.config_diff(a, b), charts=charts.compare_charts(a, ea, b, eb))
    return render(request, "web/submission/compare.html", ctx, status=status)

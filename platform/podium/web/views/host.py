"""The hosts' dashboard of one competition: entries per day, the queue, the score
distribution, participants, the last failures with their reasons, the rescore's progress;
and the hosts' actions (rescore, disqualify, decide join requests), each through its service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from datasets.metrics import METRICS
from podium.competitions import services as competition_services
from podium.competitions.audit import audit_list
from podium.competitions.models import JoinRequest
from podium.competitions.selectors import competition_get_managed
from podium.errors import ApplicationError, NotAllowed, page_message
from podium.operations import rescore, selectors
from podium.operations import services as operations
from podium.web.views.common import competition_context


def _managed_context(request, slug: str) -> dict:
    try:
        competition_get_managed(slug=slug, user=request.user)
    except NotAllowed as exc:
        raise PermissionDenied(exc.detail) from None
    return competition_context(request, slug, "host")


def _charts(stats: dict) -> dict:
    per_day = stats["entries_per_day"]
    edges, counts = stats["score_distribution"]["edges"], stats["score_distribution"]["counts"]
    return {
        "per_day": {
            "type": "bar",
            "labels": [d["day"] for d in per_day],
            "series": [{"label": "entries", "data": [d["entries"] for d in per_day]}],
            "xlabel": "day (UTC)",
        },
        "scores": {
            "type": "bar",
            "labels": [f"{(a + b) / 2:.4g}" for a, b in zip(edges, edges[1:], strict=False)],
            "series": [{"label": "entries", "data": counts}],
            "xlabel": "public score",
        },
    }


@login_required
def dashboard(request, slug: str):
    ctx = _managed_context(request, slug)
    competition = ctx["competition"]
    stats = selectors.dashboard(competition=competition)
    ctx.update(
        stats=stats,
        charts=_charts(stats),
        job=selectors.rescore_jobs(competition=competition).first(),
        pending=list(
            competition.join_requests.filter(state=JoinRequest.State.PENDING).select_related("user")
        ),
        disqualifications=list(
            selectors.disqualifications(competition=competition).filter(lifted_at__isnull=True)
        ),
        audit=list(audit_list(competition=competition)[:20]),
        # Name and title only: a metric is callable, and templates call what they can.
        metrics=[
            {"name": m.name, "title": m.title}
            for m in METRICS.values()
            if m.task_type == competition.task_type
        ],
    )
    return render(request, "web/competition/host.html", ctx)


@login_required
def rescore_progress(request, slug: str):
    """The rescore card alone, polled while a job runs (htmx)."""
    ctx = _managed_context(request, slug)
    ctx["job"] = selectors.rescore_jobs(competition=ctx["competition"]).first()
    return render(request, "web/partials/rescore_card.html", ctx)


def _act(request, slug: str, action, success: str):
    competition = _managed_context(request, slug)["competition"]
    try:
        action(competition)
    except (ApplicationError, DjangoValidationError) as exc:  # a model rule (an unknown metric) too
        page_message(request, exc)
    else:
        messages.success(request, success)
    return redirect("web:host_dashboard", slug=slug)


@login_required
@require_POST
def rescore_start(request, slug: str):
    metric = request.POST.get("metric") or None
    reason = request.POST.get("reason", "")
    return _act(
        request,
        slug,
        lambda c: rescore.rescore_start(competition=c, actor=request.user, reason=reason, metric=metric),
        "Rescoring every scored entry; progress below.",
    )


def _entry_of(competition, raw: str):
    entry = None
    if raw.isascii() and raw.isdigit() and len(raw) < 12:
        entry = selectors.competition_entry(competition=competition, submission_id=int(raw))
    if entry is None:
        raise ApplicationError(f"No entry #{raw[:20]} in this competition.", code="unknown_entry")
    return entry


# What the entry forms do: the service, and the message on success.
ENTRY_ACTIONS = {
    "disqualify": (operations.submission_disqualify, "Entry #{} disqualified."),
    "reinstate": (operations.submission_reinstate, "Entry #{} reinstated: it ranks again."),
    "rerun": (operations.submission_rerun, "Entry #{} is queued to train again."),
}


@login_required
@require_POST
def entry_action(request, slug: str, action: str):
    if action not in ENTRY_ACTIONS:
        raise Http404("No such action.")
    service, success = ENTRY_ACTIONS[action]
    raw = request.POST.get("entry", "").strip()
    reason = request.POST.get("reason", "")

    def act(competition):
        service(submission=_entry_of(competition, raw), actor=request.user, reason=reason)

    return _act(request, slug, act, success.format(raw))


@login_required
@require_POST
def disqualify_participant(request, slug: str):
    username = request.POST.get("username", "")
    reason = request.POST.get("reason", "")

    def act(competition):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ApplicationError(f"No user named '{username[:150]}'.")
        operations.entrant_disqualify(competition=competition, actor=request.user, reason=reason, user=user)

    return _act(request, slug, act, f"{username} disqualified.")


@login_required
@require_POST
def lift_disqualification(request, slug: str, disqualification_id: int):
    def act(competition):
        record = selectors.disqualifications(competition=competition).filter(pk=disqualification_id).first()
        if record is None:
            raise Http404("No such disqualification.")
        operations.entrant_reinstate(disqualification=record, actor=request.user)

    return _act(request, slug, act, "Disqualification lifted.")


@login_required
@require_POST
def decide_join_request(request, slug: str, request_id: int):
    approve = request.POST.get("approve") == "1"

    def act(competition):
        found = competition.join_requests.filter(pk=request_id).first()
        if found is None:
            raise Http404("No such join request.")
        competition_services.join_request_decide(
            join_request=found,
            approve=approve,
            decided_by=request.user,
            reason=request.POST.get("reason", ""),
        )

    return _act(request, slug, act, "Request approved." if approve else "Request declined.")

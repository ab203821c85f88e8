"""Reads of the hosts' operations; the views check first that the reader manages the
competition (competitions.selectors.competition_get_managed)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from podium.competitions.models import Competition, Participation
from podium.operations.models import RescoreJob
from podium.submissions.models import Disqualification, Status, Submission

DASHBOARD_DAYS = 30
SCORE_BINS = 20
LAST_FAILURES = 10


def rescore_jobs(*, competition: Competition) -> QuerySet[RescoreJob]:
    return RescoreJob.objects.filter(competition=competition).select_related("requested_by")


def rescore_running(*, competition: Competition) -> bool:
    return RescoreJob.objects.filter(
        competition=competition, state__in=[RescoreJob.State.QUEUED, RescoreJob.State.RUNNING]
    ).exists()


def rescore_job_get(*, competition: Competition, job_id: int) -> RescoreJob | None:
    return rescore_jobs(competition=competition).filter(pk=job_id).first()


def disqualifications(*, competition: Competition) -> QuerySet[Disqualification]:
    return Disqualification.objects.filter(competition=competition).select_related("user", "team")


def competition_entry(*, competition: Competition, submission_id: int) -> Submission | None:
    return Submission.objects.filter(competition=competition, pk=submission_id).first()


def dashboard(*, competition: Competition, now=None) -> dict:
    """What a host watches: entries per day, the queue, the public score distribution, the
    participants, the last failures with their reasons. Public scores only: private ones
    stay hidden from hosts too until the reveal (one rule for every reader)."""
    now = now or timezone.now()
    since = now - timedelta(days=DASHBOARD_DAYS)
    entries = Submission.objects.filter(competition=competition)
    per_day = (
        entries.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    by_status = dict(entries.values_list("status").annotate(n=Count("id")).order_by())
    scores = list(
        entries.filter(
            status=Status.SCORED, public_score__isnull=False, disqualified_at__isnull=True
        ).values_list("public_score", flat=True)
    )
    failures = (
        entries.filter(status=Status.FAILED)
        .select_related("user")
        .order_by("-finished_at", "-id")
        .only("id", "kind", "error_message", "finished_at", "user__username")[:LAST_FAILURES]
    )
    return {
        "entries_per_day": [{"day": row["day"].isoformat(), "entries": row["n"]} for row in per_day],
        "queue": {status.value: by_status.get(status.value, 0) for status in Status},
        "score_distribution": _histogram(scores),
        "participants": Participation.objects.filter(competition=competition).count(),
        "disqualified_entries": entries.filter(disqualified_at__isnull=False).count(),
        "last_failures": [
            {
                "id": f.pk,
                "user": f.user.username,
                "kind": f.kind,
                "finished_at": f.finished_at.isoformat() if f.finished_at else None,
                "reason": f.error_message,
            }
            for f in failures
        ],
    }


def _histogram(scores: list[float]) -> dict:
    if not scores:
        return {"edges": [], "counts": []}
    import numpy as np

    counts, edges = np.histogram(np.asarray(scores, dtype=float), bins=SCORE_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}

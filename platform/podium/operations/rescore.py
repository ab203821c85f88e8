"""Rescoring every entry of a competition (after its answer key or its metric changed).

A job scores its entries again in chunks, one task per chunk on the scorer's queue: the
answer key is read once per process, each chunk's intervals are drawn once for all its
entries, its scores are written in one statement, and the boards are rebuilt once at the
end (leaderboards.services.boards_rebuild_competition). A chunk is claimed by a
conditional update of the job's cursor, so a redelivered task changes nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from podium.competitions.audit import audit_record
from podium.competitions.models import Competition
from podium.competitions.services import competition_change_metric
from podium.errors import Conflict
from podium.leaderboards.services import boards_rebuild_competition
from podium.operations.models import RescoreJob
from podium.submissions.models import Status, Submission

log = logging.getLogger(__name__)

# Entries per task: a chunk takes a few seconds, far below the task time limit.
RESCORE_CHUNK = 500
RESCORE_FAILED_PREFIX = "Scoring again after the hosts changed the answer key or metric failed: "


def _send(job_id: int) -> None:
    from common.protocol import RESCORE_TASK
    from podium.celery import app

    app.send_task(RESCORE_TASK, args=[job_id], queue=settings.PODIUM_SCORING_QUEUE)


def _send_on_commit(job_id: int) -> None:
    transaction.on_commit(lambda: _send(job_id), robust=True)


def rescores_resume_stale(*, now=None) -> list[int]:
    """Send again the task of every job that has not moved for the heartbeat timeout (its
    message was lost: a broker restart, a worker killed between chunks). A duplicate is
    harmless: the chunk's cursor claim lets one delivery write it."""
    now = now or timezone.now()
    cutoff = now - settings.PODIUM_HEARTBEAT_TIMEOUT
    resent = []
    stale = RescoreJob.objects.filter(
        state__in=[RescoreJob.State.QUEUED, RescoreJob.State.RUNNING], updated_at__lt=cutoff
    ).values_list("pk", "updated_at")
    for job_id, updated_at in list(stale):
        # Claimed by the time it was seen at: two maintenance workers never both resend it.
        if RescoreJob.objects.filter(pk=job_id, updated_at=updated_at).update(updated_at=now) == 1:
            _send(job_id)
            resent.append(job_id)
    if resent:
        log.warning("rescore jobs %s had not moved for %s; their tasks were sent again", resent, cutoff)
    return resent


@transaction.atomic
def rescore_start(
    *, competition: Competition, actor, reason: str = "", metric: str | None = None
) -> RescoreJob:
    """Start rescoring every scored entry; with `metric`, rank by that metric from now on."""
    if metric and metric != competition.metric:
        competition_change_metric(competition=competition, metric=metric, actor=actor)
    scored = Submission.objects.filter(competition=competition, status=Status.SCORED)
    last = scored.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        with transaction.atomic():
            job = RescoreJob.objects.create(
                competition=competition,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                reason=reason,
                metric=competition.metric,
                last_submission_id=last,
                total=scored.count(),
            )
    except IntegrityError:
        running = RescoreJob.objects.filter(
            competition=competition, state__in=[RescoreJob.State.QUEUED, RescoreJob.State.RUNNING]
        ).first()
        raise Conflict(
            f"A rescore of '{competition.slug}' is running already (job #{running.pk if running else '?'}, "
            f"{running.done if running else 0} of {running.total if running else 0} entries); "
            "wait for it to end.",
            code="rescore_running",
        ) from None
    audit_record(
        competition=competition,
        actor=actor,
        action="rescore_start",
        target=f"rescore job #{job.pk}",
        reason=reason,
        data={"entries": job.total, "metric": job.metric},
    )
    _send_on_commit(job.pk)
    return job


def rescore_advance(*, job_id: int, chunk: int = RESCORE_CHUNK) -> RescoreJob | None:
    """Rescore the job's next chunk and send the task of the one after; at the end rebuild the
    boards and close the job. Idempotent: a chunk someone else wrote already is skipped."""
    from podium.submissions.scoring import ScoringFailed, scores_compute_many

    job = RescoreJob.objects.select_related("competition__dataset").filter(pk=job_id).first()
    if job is None or job.state == RescoreJob.State.DONE:
        return job
    competition = job.competition
    cursor = job.cursor
    entries = list(
        Submission.objects.filter(
            competition=competition, status=Status.SCORED, pk__gt=cursor, pk__lte=job.last_submission_id
        )
        .order_by("pk")
        .only("pk", "predictions", "phase_id")[:chunk]
    )
    if not entries:
        return _finish(job_id=job_id, cursor=cursor)
    results = scores_compute_many(submissions=entries, competition=competition)
    now = timezone.now()
    with transaction.atomic():
        claimed = RescoreJob.objects.filter(pk=job_id, cursor=cursor).exclude(state=RescoreJob.State.DONE)
        if claimed.update(cursor=entries[-1].pk, state=RescoreJob.State.RUNNING, updated_at=now) != 1:
            return RescoreJob.objects.get(pk=job_id)  # a redelivery: this chunk is written already
        # An entry re-run or rescored meanwhile by the scorer is left to that path.
        still_scored = set(
            Submission.objects.select_for_update()
            .filter(pk__in=[e.pk for e in entries], status=Status.SCORED)
            .values_list("pk", flat=True)
        )
        scored, failed = [], []
        for entry, result in zip(entries, results, strict=True):
            if entry.pk not in still_scored:
                continue
            if isinstance(result, ScoringFailed):
                entry.status = Status.FAILED
                entry.error_message = RESCORE_FAILED_PREFIX + str(result)
                entry.finished_at = now
                failed.append(entry)
            else:
                entry.public_score, entry.private_score = result.public, result.private
                entry.public_ci_low, entry.public_ci_high = result.public_ci
                entry.extra_scores = result.extra
                scored.append(entry)
        Submission.objects.bulk_update(
            scored,
            ["public_score", "private_score", "public_ci_low", "public_ci_high", "extra_scores"],
            batch_size=chunk,
        )
        Submission.objects.bulk_update(failed, ["status", "error_message", "finished_at"], batch_size=chunk)
        RescoreJob.objects.filter(pk=job_id).update(
            done=job.done + len(entries),
            failed=job.failed + len(failed),
            started_at=job.started_at or now,
        )
        _send_on_commit(job_id)
    job.refresh_from_db()
    return job


@transaction.atomic
def _finish(*, job_id: int, cursor: int) -> RescoreJob:
    job = RescoreJob.objects.select_for_update().select_related("competition").get(pk=job_id)
    if job.state == RescoreJob.State.DONE or job.cursor != cursor:
        return job
    rows = boards_rebuild_competition(competition=job.competition)
    now = timezone.now()
    job.state = RescoreJob.State.DONE
    job.done = job.total if job.done < job.total else job.done
    job.started_at = job.started_at or now
    job.finished_at = now
    job.save(update_fields=["state", "done", "started_at", "finished_at"])
    audit_record(
        competition=job.competition,
        actor=None,
        action="rescore_done",
        target=f"rescore job #{job.pk}",
        data={"entries": job.done, "failed": job.failed, "board_rows": rows},
    )
    log.info(
        "rescore #%s of %s done: %s entries, %s failed", job.pk, job.competition.slug, job.done, job.failed
    )
    return job

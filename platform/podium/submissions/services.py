"""Writes of the submission lifecycle (DESIGN.md, "Submission lifecycle").

Every worker callback is keyed by (submission, attempt) and guarded by a
conditional update, so a repeated delivery or a late worker of a superseded
attempt changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from podium.competitions.models import Competition
from podium.competitions.phases import CLOSED, LATE, UPCOMING, PhaseView
from podium.competitions.selectors import competition_phase, competition_phases, submission_phase
from podium.errors import Conflict, NotAllowed
from podium.leaderboards.services import board_record_entry, board_record_score
from podium.submissions import dispatch, queue
from podium.submissions.attempts import Attempts
from podium.submissions.entrants import Entrant
from podium.submissions.errors import SubmissionInvalid
from podium.submissions.limits import (
    Usage,
    entrant_get,
    limit_scope_lock,
    limits_check,
    submission_usage,
)
from podium.submissions.models import ACTIVE_STATUSES, FINAL_STATUSES, EpochMetric, Kind, Status, Submission
from podium.submissions.validation import config_check, kind_check, predictions_validate

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000


# --- intake -----------------------------------------------------------------


# A file this large is worth a limit check before it is parsed; a small one is parsed in
# less time than the extra count query costs.
PRECHECK_LIMITS_ABOVE_BYTES = 1024 * 1024


def submission_check_allowed(
    *, competition: Competition, user, kind: str, now: datetime, phase: str | None = None
) -> tuple[Entrant, PhaseView, bool]:
    """The cheap checks before any file is read: joined, the phase (named, else the current
    one) open or taking late entries, kind accepted. Returns the entrant, the phase and
    whether the entry is late (after the phase's end: its late board)."""
    entrant = entrant_get(competition=competition, user=user)
    if entrant is None:
        raise NotAllowed(
            f"You have not joined the competition '{competition.slug}'. Join it (and accept its rules) first."
        )
    view = competition_phase(competition=competition, slug=phase, now=now)
    # A competition of one phase speaks of itself, as it did before phases.
    what = (
        f"The competition '{competition.slug}'"
        if len(competition_phases(competition)) == 1
        else f"Phase '{view.slug}' of '{competition.slug}'"
    )
    status = view.status(now)
    if status == UPCOMING:
        raise NotAllowed(f"{what} opens at {view.starts_at:%Y-%m-%d %H:%M} UTC.")
    if status == CLOSED:
        raise NotAllowed(f"{what} closed at {view.ends_at:%Y-%m-%d %H:%M} UTC.")
    kind_check(phase=view, kind=kind)
    return entrant, view, status == LATE


def submission_create(
    *,
    competition: Competition,
    user,
    predictions_file=None,
    config_text: str | None = None,
    description: str = "",
    phase: str | None = None,
) -> tuple[Submission, Usage]:
    """Validate, count against the limits under a lock, store, and dispatch on commit.

    `phase`: a phase's slug; none names the current phase. Nothing is stored when any step
    fails: validation runs before the row and the file exist, and a file written before a
    failing insert is deleted again.
    """
    if (predictions_file is None) == (config_text is None):
        raise SubmissionInvalid(
            "Send exactly one of 'file' (a predictions CSV) or 'config' (a model config)."
        )
    kind = Kind.PREDICTIONS if predictions_file is not None else Kind.CONFIG
    now = timezone.now()
    entrant, view, late = submission_check_allowed(
        competition=competition, user=user, kind=kind, now=now, phase=phase
    )
    if predictions_file is not None and (predictions_file.size or 0) > PRECHECK_LIMITS_ABOVE_BYTES:
        limits_check(submission_usage(phase=view, user=user, team=entrant.team_id, now=now))

    config = None
    warnings: list[dict] = []
    if kind == Kind.PREDICTIONS:
        predictions_validate(phase=view, source=predictions_file)
    else:
        config, warnings = config_check(phase=view, text=config_text)

    submission = Submission(
        competition=competition,
        phase=view.phase,
        is_late=late,
        user=user,
        team_id=entrant.team_id,
        kind=kind,
        description=description.strip()[:500],
        config=config,
        config_text=config_text or "",
        config_warnings=warnings,
    )
    stored_name = None
    try:
        if kind == Kind.PREDICTIONS:
            # Written before the transaction: the limit lock (SQLite: the database's write
            # lock) is then held for two short statements, not for a file copy.
            predictions_file.seek(0)
            submission.predictions.save(_stored_name(competition), File(predictions_file), save=False)
            stored_name = submission.predictions.name
        with transaction.atomic():
            limit_scope_lock(entrant=entrant)
            usage = submission_usage(phase=view, user=user, team=entrant.team_id, now=timezone.now())
            limits_check(usage)
            _next_attempt(submission)
            submission.save()
            _send_on_commit(submission)
            if kind == Kind.CONFIG:
                # A prediction file is on the board's count within a second, when it is scored
                # (board_record_score recounts); a config may wait in the queue for a while.
                board_record_entry(submission=submission)
    except BaseException:
        if stored_name:
            Submission._meta.get_field("predictions").storage.delete(stored_name)
        raise
    return submission, _usage_after(usage)


def _stored_name(competition: Competition) -> str:
    return f"{competition.slug}-{uuid.uuid4().hex}.csv"


def _usage_after(usage: Usage) -> Usage:
    return Usage(
        scope=usage.scope,
        daily_allowed=usage.daily_allowed,
        daily_used=usage.daily_used + 1,
        total_allowed=usage.total_allowed,
        total_used=usage.total_used + 1,
        resets_at=usage.resets_at,
    )


def _next_attempt(submission: Submission) -> None:
    """A prediction file goes straight to the scorer; a model config waits its turn in the
    fair queue (podium.submissions.queue)."""
    now = timezone.now()
    submission.attempt += 1
    submission.queued_at = now
    submission.released_at = None
    submission.heartbeat_at = now if submission.kind == Kind.PREDICTIONS else None
    submission.started_at = None
    submission.status = Status.SCORING if submission.kind == Kind.PREDICTIONS else Status.QUEUED


@transaction.atomic
def submission_enqueue(*, submission: Submission) -> Submission:
    """Start a new attempt (fresh token): a model entry joins the fair queue, a prediction file
    goes to the scorer once the row is committed."""
    _next_attempt(submission)
    submission.save(
        update_fields=["attempt", "queued_at", "released_at", "heartbeat_at", "started_at", "status"]
    )
    _send_on_commit(submission)
    return submission


def _send_on_commit(submission: Submission) -> None:
    submission_id, attempt = submission.pk, submission.attempt
    if submission.status == Status.SCORING:
        # robust: the row is committed already; a broker outage is healed by the reaper.
        transaction.on_commit(lambda: dispatch.send_score(submission_id, attempt), robust=True)
    else:
        # Its turn may be now: the queue releases what its window allows, in fair order.
        queue.release_on_commit()


# --- participant and admin actions -------------------------------------------


@transaction.atomic
def submission_cancel(*, submission: Submission) -> Submission:
    """Cancel in any non-final state; cancelling a cancelled entry again is a no-op."""
    locked = Submission.objects.select_for_update().get(pk=submission.pk)
    if locked.status == Status.CANCELLED:
        return locked
    if locked.status in FINAL_STATUSES:
        raise Conflict(f"Submission #{locked.pk} is already {locked.status}; it cannot be cancelled.")
    # A waiting entry leaves the queue with nothing sent; a released one frees its place in the
    # window (the worker that gets its message is refused the claim).
    released = locked.status == Status.QUEUED and locked.released_at is not None
    locked.status = Status.CANCELLED
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "finished_at"])
    board_record_entry(submission=locked)
    if released:
        queue.release_on_commit()
    return locked


# --- worker callbacks ---------------------------------------------------------


ATTEMPTS = Attempts(
    model=Submission,
    noun="Submission",
    queued=Status.QUEUED,
    running=Status.RUNNING,
    failed=Status.FAILED,
    cancelled=Status.CANCELLED,
    active=tuple(ACTIVE_STATUSES),
)


def _conflict_reason(submission_id: int, attempt: int) -> Conflict:
    return ATTEMPTS.conflict(submission_id, attempt)


def submission_claim(*, submission_id: int, attempt: int) -> Submission:
    ATTEMPTS.claim(submission_id, attempt)
    # A claimed message leaves the window: the next entry in fair order takes its place.
    queue.release_on_commit()
    return Submission.objects.select_related("competition__dataset").get(pk=submission_id)


def submission_heartbeat(*, submission_id: int, attempt: int) -> None:
    ATTEMPTS.heartbeat(submission_id, attempt)


@transaction.atomic
def submission_record_epoch(
    *, submission_id: int, attempt: int, epoch: int, data: dict, variant: int = 0
) -> EpochMetric:
    """Store one epoch's metrics; a repeat of the same (attempt, variant, epoch) returns the
    first, unchanged. `variant`: which model of a sweep or an ensemble trained it."""
    submission_record_epochs(
        submission_id=submission_id,
        attempt=attempt,
        records=[{"epoch": epoch, "variant": variant, "data": data}],
    )
    return EpochMetric.objects.get(submission_id=submission_id, attempt=attempt, variant=variant, epoch=epoch)


@transaction.atomic
def submission_record_epochs(*, submission_id: int, attempt: int, records: list[dict]) -> int:
    """Store several epochs' metrics at once (`records`: {"epoch", "variant", "data"}), as
    one heartbeat: a fast run's worker sends the epochs that ended while its previous post
    was on its way, instead of one request each. Repeats of stored (attempt, variant, epoch)
    keep the first; a stale attempt or a final entry is a Conflict unless every record was
    stored already (a retried post). Returns how many records were new."""
    changed = Submission.objects.filter(pk=submission_id, status=Status.RUNNING, attempt=attempt).update(
        heartbeat_at=timezone.now()
    )
    if changed != 1:
        stored = set(
            EpochMetric.objects.filter(submission_id=submission_id, attempt=attempt).values_list(
                "variant", "epoch"
            )
        )
        if all((r["variant"], r["epoch"]) in stored for r in records):
            return 0
        raise _conflict_reason(submission_id, attempt)
    before = EpochMetric.objects.filter(submission_id=submission_id, attempt=attempt).count()
    EpochMetric.objects.bulk_create(
        [
            EpochMetric(
                submission_id=submission_id,
                attempt=attempt,
                variant=r["variant"],
                epoch=r["epoch"],
                data=r["data"],
            )
            for r in records
        ],
        ignore_conflicts=True,
    )
    return EpochMetric.objects.filter(submission_id=submission_id, attempt=attempt).count() - before


def submission_store_predictions(
    *, submission_id: int, attempt: int, file, weights=None, report: dict | None = None
) -> Submission:
    """The worker's test predictions: validated like an upload, then on to the scorer.
    `report` (a `common.protocol.RunReport`) is stored with them.

    A repeat for an attempt already past training is a no-op. Predictions that fail
    validation fail the entry with the problems listed (never a stuck entry).
    """
    current = Submission.objects.select_related("competition").get(pk=submission_id)
    if current.attempt == attempt and current.status in (Status.SCORING, Status.SCORED):
        return current
    if current.attempt != attempt or current.status != Status.RUNNING:
        raise _conflict_reason(submission_id, attempt)
    try:
        predictions_validate(phase=submission_phase(current), source=file)
    except SubmissionInvalid as exc:
        summary = "; ".join(p.as_dict().get("message", "") for p in exc.problems[:3])
        submission_fail(
            submission_id=submission_id,
            attempt=attempt,
            message=f"The trained model's predictions were not valid: {summary or exc.detail}",
        )
        raise

    stored: list[str] = []
    storage_pred = Submission._meta.get_field("predictions").storage
    try:
        with transaction.atomic():
            locked = Submission.objects.select_for_update().get(pk=submission_id)
            if locked.attempt == attempt and locked.status in (Status.SCORING, Status.SCORED):
                return locked
            if locked.attempt != attempt or locked.status != Status.RUNNING:
                raise _conflict_reason(submission_id, attempt)
            file.seek(0)
            locked.predictions.save(_stored_name(current.competition), File(file), save=False)
            stored.append(locked.predictions.name)
            if weights is not None:
                locked.weights.save(
                    f"{current.competition.slug}-{uuid.uuid4().hex}.safetensors", File(weights), save=False
                )
                stored.append(locked.weights.name)
            locked.status = Status.SCORING
            locked.heartbeat_at = timezone.now()
            fields = ["predictions", "weights", "status", "heartbeat_at"]
            if report is not None:
                locked.training_report = report
                fields.append("training_report")
            locked.save(update_fields=fields)
            _send_on_commit(locked)
            return locked
    except BaseException:
        for name in stored:
            storage_pred.delete(name)
        raise


def clean_message(message: str) -> str:
    """A reason a participant can read: the last line of a traceback, bounded in length."""
    text = (message or "").strip()
    if "Traceback (most recent call last)" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        text = lines[-1].strip() if lines else ""
    text = text or "The worker reported a failure without a reason."
    return text[:MAX_MESSAGE_CHARS]


@transaction.atomic
def submission_fail(
    *, submission_id: int, attempt: int, message: str, report: dict | None = None
) -> Submission:
    """Fail the current attempt; a repeat is a no-op, a stale attempt changes nothing.
    `report` (a `common.protocol.RunReport` from the worker) is stored with the reason."""
    extra = {"training_report": report} if report is not None else {}
    failed_now = ATTEMPTS.fail(submission_id, attempt, error_message=clean_message(message), **extra)
    submission = Submission.objects.select_related("competition").get(pk=submission_id)
    if failed_now:
        board_record_entry(submission=submission)
        _mail_on_commit(submission_id)
        queue.release_on_commit()  # a released entry that fails before its claim frees its place
    return submission


def _mail_on_commit(submission_id: int) -> None:
    """Its author hears of an entry's end (podium.mail decides whether they want to)."""
    transaction.on_commit(lambda: dispatch.send_entry_mail(submission_id), robust=True)


# --- scoring ------------------------------------------------------------------


def submission_score(*, submission_id: int, attempt: int) -> Submission | None:
    """Score against the hidden labels, write both scores and update the board, once.

    The metric is computed before the row is locked (it reads the file); the
    write re-checks status and attempt under the lock, so a redelivered message
    for an entry that is scored already changes nothing.
    """
    from podium.submissions.scoring import ScoringFailed, scores_compute

    submission = Submission.objects.select_related("competition").filter(pk=submission_id).first()
    if submission is None or submission.status != Status.SCORING or submission.attempt != attempt:
        return submission
    try:
        result = scores_compute(submission=submission)
    except ScoringFailed as exc:
        log.warning("submission %s could not be scored: %s", submission_id, exc)
        return submission_fail(submission_id=submission_id, attempt=attempt, message=str(exc))

    with transaction.atomic():
        # The entry's row alone: locking its competition too (select_related joins it) would
        # deadlock with an intake that holds its board row and checks its foreign keys at commit.
        locked = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("competition")
            .get(pk=submission_id)
        )
        if locked.status != Status.SCORING or locked.attempt != attempt:
            return locked
        locked.public_score = result.public
        locked.private_score = result.private
        locked.public_ci_low, locked.public_ci_high = result.public_ci
        locked.extra_scores = result.extra
        locked.status = Status.SCORED
        locked.finished_at = timezone.now()
        locked.save(
            update_fields=[
                "public_score",
                "private_score",
                "public_ci_low",
                "public_ci_high",
                "extra_scores",
                "status",
                "finished_at",
            ]
        )
        board_record_score(submission=locked)
        _mail_on_commit(submission_id)
    return locked


# --- the reaper -----------------------------------------------------------------


def submissions_reap_stale(*, now: datetime | None = None) -> dict[str, int]:
    """Nothing stays queued, running or scoring forever.

    Running with a silent worker, or released to the training queue and not claimed for
    too long (the message was lost, e.g. a broker restart), gets a new attempt with a fresh
    token and joins the fair queue again, up to PODIUM_MAX_ATTEMPTS; then the entry fails
    with a reason people can read. An entry waiting its turn in the fair queue is not stuck
    and is left alone, however long it waits. A stuck scoring entry is sent to the scorer again.
    """
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "rescored": 0}
    stale = Submission.objects.filter(
        Q(status=Status.RUNNING, heartbeat_at__lt=now - settings.PODIUM_HEARTBEAT_TIMEOUT)
        | Q(status=Status.QUEUED, released_at__lt=now - settings.PODIUM_QUEUED_TIMEOUT)
        | Q(status=Status.SCORING, heartbeat_at__lt=now - settings.PODIUM_HEARTBEAT_TIMEOUT)
    ).values_list("pk", flat=True)
    for submission_id in list(stale):
        outcome = _reap_one(submission_id=submission_id, now=now)
        if outcome:
            counts[outcome] += 1
    if any(counts.values()):
        log.info("reaper: %s", counts)
    return counts


@transaction.atomic
def _reap_one(*, submission_id: int, now: datetime) -> str | None:
    sub = Submission.objects.select_for_update().filter(pk=submission_id).first()
    if sub is None:
        return None
    heartbeat_cutoff = now - settings.PODIUM_HEARTBEAT_TIMEOUT
    max_attempts = settings.PODIUM_MAX_ATTEMPTS
    if sub.status == Status.SCORING and sub.heartbeat_at and sub.heartbeat_at < heartbeat_cutoff:
        if sub.score_sends >= max_attempts:
            sub.status = Status.FAILED
            sub.error_message = f"Scoring did not complete after {sub.score_sends} tries; giving up."
            sub.finished_at = now
            sub.save(update_fields=["status", "error_message", "finished_at"])
            board_record_entry(submission=sub)
            _mail_on_commit(sub.pk)
            return "failed"
        sub.score_sends += 1
        sub.heartbeat_at = now
        sub.save(update_fields=["score_sends", "heartbeat_at"])
        _send_on_commit(sub)
        return "rescored"
    if sub.status == Status.RUNNING and sub.heartbeat_at and sub.heartbeat_at < heartbeat_cutoff:
        reason = f"The training worker stopped responding {sub.attempt} times; giving up."
    elif (
        sub.status == Status.QUEUED
        and sub.released_at
        and sub.released_at < now - settings.PODIUM_QUEUED_TIMEOUT
    ):
        reason = f"No training worker picked the entry up after {sub.attempt} tries; giving up."
    else:
        return None
    if sub.attempt >= max_attempts:
        sub.status = Status.FAILED
        sub.error_message = reason
        sub.finished_at = now
        sub.save(update_fields=["status", "error_message", "finished_at"])
        board_record_entry(submission=sub)
        _mail_on_commit(sub.pk)
        queue.release_on_commit()
        return "failed"
    submission_enqueue(submission=sub)
    return "requeued"

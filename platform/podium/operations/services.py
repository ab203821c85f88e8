"""What a host does to entries and entrants: disqualify, reinstate, re-run. Each write is
audited in the same transaction (competitions.audit) and updates the boards at once."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from podium.competitions.audit import audit_record
from podium.competitions.models import Competition
from podium.errors import ApplicationError, Conflict
from podium.leaderboards.services import board_rebuild
from podium.submissions.entrants import Entrant, entrant_of
from podium.submissions.models import Disqualification, Kind, Status, Submission
from podium.submissions.services import submission_enqueue
from podium.teams.selectors import team_id_for

MAX_REASON_CHARS = 500


def _reason_required(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ApplicationError(
            "Give a reason: it is shown to the people disqualified and kept in the audit log.",
            code="reason_required",
            extra={"field": "reason"},
        )
    if len(text) > MAX_REASON_CHARS:
        raise ApplicationError(
            f"The reason is {len(text)} characters long; at most {MAX_REASON_CHARS} are kept.",
            code="reason_too_long",
            extra={"field": "reason"},
        )
    return text


def _entry_label(submission: Submission) -> str:
    return f"entry #{submission.pk}"


# --- one entry ------------------------------------------------------------------------------


@transaction.atomic
def submission_disqualify(*, submission: Submission, actor, reason: str) -> Submission:
    """Take one entry off every board; its authors see the reason. Reversible (reinstate)."""
    reason = _reason_required(reason)
    locked = (
        Submission.objects.select_for_update(of=("self",)).select_related("competition").get(pk=submission.pk)
    )
    if locked.disqualified_at is not None:
        raise Conflict(f"Entry #{locked.pk} is disqualified already ({locked.disqualified_reason}).")
    locked.disqualified_at = timezone.now()
    locked.disqualified_reason = reason
    locked.disqualified_scope = "entry"
    locked.is_final_pick = False
    locked.save(
        update_fields=["disqualified_at", "disqualified_reason", "disqualified_scope", "is_final_pick"]
    )
    board_rebuild(entrant=entrant_of(locked))
    audit_record(
        competition=locked.competition,
        actor=actor,
        action="entry_disqualify",
        target=_entry_label(locked),
        reason=reason,
        data={"user": locked.user_id, "team": locked.team_id},
    )
    return locked


@transaction.atomic
def submission_reinstate(*, submission: Submission, actor, reason: str = "") -> Submission:
    """Undo an entry's own disqualification; it ranks again at once."""
    locked = (
        Submission.objects.select_for_update(of=("self",)).select_related("competition").get(pk=submission.pk)
    )
    if locked.disqualified_at is None:
        raise Conflict(f"Entry #{locked.pk} is not disqualified.")
    if locked.disqualified_scope == "entrant":
        raise Conflict(
            f"Entry #{locked.pk} is off the boards because its participant or team is disqualified; "
            "lift that disqualification instead.",
            code="entrant_disqualified",
        )
    locked.disqualified_at = None
    locked.disqualified_reason = ""
    locked.disqualified_scope = ""
    locked.save(update_fields=["disqualified_at", "disqualified_reason", "disqualified_scope"])
    board_rebuild(entrant=entrant_of(locked))
    audit_record(
        competition=locked.competition,
        actor=actor,
        action="entry_reinstate",
        target=_entry_label(locked),
        reason=reason,
    )
    return locked


@transaction.atomic
def submission_rerun(*, submission: Submission, actor, reason: str = "") -> Submission:
    """Train a model entry again from its config (a new attempt, a fresh token): after a
    worker fault, or a change of the dataset. Its old scores leave the boards until it is
    scored again; it does not count again against the limits."""
    locked = (
        Submission.objects.select_for_update(of=("self",)).select_related("competition").get(pk=submission.pk)
    )
    if locked.kind != Kind.CONFIG:
        raise ApplicationError(
            f"Entry #{locked.pk} is a prediction file: only model entries are trained again "
            "(rescore the competition to score files again).",
            code="not_a_model",
        )
    if locked.status not in (Status.SCORED, Status.FAILED):
        raise Conflict(
            f"Entry #{locked.pk} is {locked.status}; only a scored or failed model entry can be re-run.",
            code=locked.status,
        )
    if locked.disqualified_at is not None:
        raise Conflict(
            f"Entry #{locked.pk} is disqualified ({locked.disqualified_reason}); reinstate it first."
        )
    previous = {"status": locked.status, "attempt": locked.attempt, "public_score": locked.public_score}
    locked.public_score = locked.private_score = locked.public_ci_low = locked.public_ci_high = None
    locked.error_message = ""
    locked.finished_at = None
    locked.score_sends = 0
    locked.save(
        update_fields=[
            "public_score",
            "private_score",
            "public_ci_low",
            "public_ci_high",
            "error_message",
            "finished_at",
            "score_sends",
        ]
    )
    submission_enqueue(submission=locked)
    board_rebuild(entrant=entrant_of(locked))
    audit_record(
        competition=locked.competition,
        actor=actor,
        action="entry_rerun",
        target=_entry_label(locked),
        reason=reason,
        data={"previous": previous, "attempt": locked.attempt},
    )
    return locked


# --- a participant or a team ------------------------------------------------------------------


def _entrant(competition: Competition, *, user=None, team=None) -> Entrant:
    if (user is None) == (team is None):
        raise ApplicationError("Name exactly one of a participant (username) or a team.", code="entrant")
    if team is not None:
        if team.competition_id != competition.pk:
            raise ApplicationError(
                f"Team '{team.name}' is not a team of '{competition.slug}'.", code="entrant"
            )
        return Entrant.of(competition_id=competition.pk, user_id=None, team_id=team.pk)
    team_id = team_id_for(competition_id=competition.pk, user_id=user.pk)
    if team_id is not None:
        raise ApplicationError(
            f"'{user.username}' enters '{competition.slug}' in a team (#{team_id}); disqualify the team.",
            code="in_team",
            extra={"team": team_id},
        )
    return Entrant.of(competition_id=competition.pk, user_id=user.pk, team_id=None)


@transaction.atomic
def entrant_disqualify(
    *, competition: Competition, actor, reason: str, user=None, team=None
) -> Disqualification:
    """Take a participant (or a team) off every board of the competition: all their entries
    stop ranking and their new entries are refused, with the reason shown to them."""
    reason = _reason_required(reason)
    entrant = _entrant(competition, user=user, team=team)
    try:
        with transaction.atomic():
            record = Disqualification.objects.create(
                competition=competition,
                user=user if team is None else None,
                team=team,
                reason=reason,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
    except IntegrityError:
        raise Conflict(f"{_who(user, team)} is disqualified already.", code="disqualified") from None
    now = timezone.now()
    entrant.submissions().filter(disqualified_at__isnull=True).update(
        disqualified_at=now, disqualified_reason=reason, disqualified_scope="entrant", is_final_pick=False
    )
    board_rebuild(entrant=entrant)
    audit_record(
        competition=competition,
        actor=actor,
        action="entrant_disqualify",
        target=_who(user, team),
        reason=reason,
    )
    return record


@transaction.atomic
def entrant_reinstate(*, disqualification: Disqualification, actor, reason: str = "") -> Disqualification:
    """Lift a participant's (or team's) disqualification: their entries rank again, except those
    disqualified one by one."""
    record = (
        Disqualification.objects.select_for_update(of=("self",))
        .select_related("competition", "user", "team")
        .get(pk=disqualification.pk)
    )
    if record.lifted_at is not None:
        raise Conflict(f"This disqualification was lifted already, at {record.lifted_at:%Y-%m-%d %H:%M} UTC.")
    record.lifted_at = timezone.now()
    record.lifted_by = actor if getattr(actor, "is_authenticated", False) else None
    record.save(update_fields=["lifted_at", "lifted_by"])
    entrant = Entrant.of(competition_id=record.competition_id, user_id=record.user_id, team_id=record.team_id)
    entrant.submissions().filter(disqualified_scope="entrant").update(
        disqualified_at=None, disqualified_reason="", disqualified_scope=""
    )
    board_rebuild(entrant=entrant)
    audit_record(
        competition=record.competition,
        actor=actor,
        action="entrant_reinstate",
        target=_who(record.user, record.team),
        reason=reason,
    )
    return record


def _who(user, team) -> str:
    return f"team {team.name}" if team is not None else f"user {user.username}"

"""Writes of the boards: every rule here is written down in docs/leaderboard.md."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from podium.competitions.models import Competition
from podium.errors import ApplicationError, Conflict, NotFound
from podium.leaderboards.models import BoardEntry
from podium.leaderboards.rows import aware, rank_key
from podium.submissions.dispatch import send_reveal_mail
from podium.submissions.entrants import NOT_COUNTED, Entrant, entrant_of
from podium.submissions.models import Status, Submission

# Float noise must not decide whether the Ladder releases a score.
LADDER_EPS = 1e-12


# --- precomposed statements of the write path ---------------------------------------
#
# board_record_score runs inside every scoring transaction. Its statements are few and
# short (one entrant's row, one entrant's entries); building them with the ORM cost
# more than running them, so the hot ones are written once here.
_BE = BoardEntry._meta.db_table
_SUB = Submission._meta.db_table
_ROW_FIELDS = list(BoardEntry._meta.concrete_fields)
_ROW_TIMES = [f.get_internal_type() == "DateTimeField" for f in _ROW_FIELDS]
# Django reads JSON columns as text and decodes them in the field: raw statements must too.
_ROW_JSON = [f.get_internal_type() == "JSONField" for f in _ROW_FIELDS]
_ROW_SELECT = f"SELECT {', '.join(f.column for f in _ROW_FIELDS)} FROM {_BE} WHERE competition_id = %(c)s"
_TEAM_ROW = " AND team_id = %(t)s"
_USER_ROW = " AND user_id = %(u)s AND team_id IS NULL"
# The row's written fields: everything a score, a recount or a pick can change.
_WRITTEN = [
    BoardEntry._meta.get_field(name)
    for name in (
        "score",
        "rank_key",
        "submission",
        "submitted_at",
        "ci_low",
        "ci_high",
        "extra_scores",
        "entry_count",
        "last_submitted_at",
        "private_score",
        "private_rank_key",
        "private_submission",
        "private_submitted_at",
        "private_extra_scores",
        "updated_at",
    )
]
_ROW_UPDATE = f"UPDATE {_BE} SET {', '.join(f.column + ' = %s' for f in _WRITTEN)} WHERE id = %s"


def _entries_sql(entrant: Entrant) -> tuple[str, dict]:
    if entrant.team_id is not None:
        return "competition_id = %(c)s AND team_id = %(t)s", {
            "c": entrant.competition_id,
            "t": entrant.team_id,
        }
    return (
        "competition_id = %(c)s AND user_id = %(u)s AND team_id IS NULL",
        {"c": entrant.competition_id, "u": entrant.user_id},
    )


def _row_select_locked(entrant: Entrant) -> BoardEntry | None:
    sql = _ROW_SELECT + (_TEAM_ROW if entrant.team_id is not None else _USER_ROW)
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, {"c": entrant.competition_id, "t": entrant.team_id, "u": entrant.user_id})
        values = cursor.fetchone()
    if values is None:
        return None
    values = [
        aware(v) if is_time else _json(v) if is_json else v
        for is_time, is_json, v in zip(_ROW_TIMES, _ROW_JSON, values, strict=True)
    ]
    return BoardEntry.from_db(connection.alias, [f.attname for f in _ROW_FIELDS], values)


def _row_write(row: BoardEntry) -> None:
    """row.save() for the fields the board keeps on write, as one precomposed UPDATE."""
    row.updated_at = timezone.now()
    params = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in _WRITTEN]
    with connection.cursor() as cursor:
        cursor.execute(_ROW_UPDATE, [*params, row.pk])


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


class _Pick(NamedTuple):
    pk: int
    created_at: datetime
    public_score: float
    private_score: float | None
    is_final_pick: bool
    extra_scores: dict


def _counts_and_picks(row: BoardEntry, entrant: Entrant, competition: Competition) -> list[_Pick]:
    """_counts_refresh and final_picks_effective in one statement: the entry count and the
    newest entry's time, then the K picks (chosen ones first, then the best public)."""
    where, params = _entries_sql(entrant)
    direction = "DESC" if competition.higher_is_better else "ASC"
    sql = (
        f"SELECT 0, COUNT(*), MAX(created_at), NULL, NULL, NULL, NULL FROM {_SUB} "
        f"WHERE {where} AND status NOT IN (%(failed)s, %(cancelled)s) "
        f"UNION ALL SELECT * FROM (SELECT 1, id, created_at, public_score, private_score, is_final_pick, "
        f"extra_scores "
        f"FROM {_SUB} WHERE {where} AND status = %(scored)s AND public_score IS NOT NULL "
        f"ORDER BY is_final_pick DESC, public_score {direction}, created_at, id LIMIT %(k)s) AS picks"
    )
    params.update(
        failed=Status.FAILED.value,
        cancelled=Status.CANCELLED.value,
        scored=Status.SCORED.value,
        k=competition.max_final_picks,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    picks = []
    for part, a, b, public, private, chosen, extra in fetched:
        if part == 0:
            row.entry_count, row.last_submitted_at = a, aware(b)
        else:
            picks.append(_Pick(a, aware(b), public, private, bool(chosen), _json(extra) or {}))
    picks.sort(
        key=lambda p: (
            not p.is_final_pick,
            rank_key(higher_is_better=competition.higher_is_better, score=p.public_score),
            p.created_at,
            p.pk,
        )
    )
    if picks and picks[0].is_final_pick:
        return [p for p in picks if p.is_final_pick]
    return picks


def _row_locked(entrant: Entrant) -> BoardEntry:
    """The entrant's row, created when missing, locked until the transaction ends."""
    row = _row_select_locked(entrant)
    if row is not None:
        return row
    try:
        with transaction.atomic():
            BoardEntry.objects.create(
                competition_id=entrant.competition_id, user_id=entrant.user_id, team_id=entrant.team_id
            )
    except IntegrityError:  # a concurrent first score created it: the unique constraint held
        pass
    return BoardEntry.objects.select_for_update().filter(entrant.row_filter).get()


def _stamp_team(submission: Submission, entrant: Entrant) -> None:
    if entrant.team_id is not None and submission.team_id != entrant.team_id:
        Submission.objects.filter(pk=submission.pk).update(team_id=entrant.team_id)
        submission.team_id = entrant.team_id


def _counts_refresh(row: BoardEntry, entrant: Entrant) -> None:
    counts = (
        entrant.submissions().exclude(status__in=NOT_COUNTED).aggregate(n=Count("id"), last=Max("created_at"))
    )
    row.entry_count = counts["n"]
    row.last_submitted_at = counts["last"]


def ladder_round(score: float, step: float) -> float:
    """Blum & Hardt release the score rounded to the nearest multiple of the step."""
    if step <= 0:
        return score
    return round(round(score / step) * step, 12)


def _public_take(row: BoardEntry, submission: Submission, *, shown: float, competition: Competition) -> None:
    row.score = shown
    row.rank_key = rank_key(higher_is_better=competition.higher_is_better, score=shown)
    row.submission_id = submission.pk
    row.submitted_at = submission.created_at
    row.ci_low = submission.public_ci_low
    row.ci_high = submission.public_ci_high
    row.extra_scores = _public_extras(submission.extra_scores, competition)


def _public_extras(extra_scores: dict | None, competition: Competition) -> dict:
    """The other metrics' public scores, in the competition's order. Under the Ladder none:
    exact public scores of other metrics would tell what the rounded primary hides."""
    if competition.ladder_enabled:
        return {}
    extra_scores = extra_scores or {}
    return {name: (extra_scores.get(name) or {}).get("public") for name in competition.extra_metrics or ()}


def _private_extras(extra_scores: dict | None, competition: Competition) -> dict:
    extra_scores = extra_scores or {}
    return {name: (extra_scores.get(name) or {}).get("private") for name in competition.extra_metrics or ()}


def _public_offer(row: BoardEntry, submission: Submission, competition: Competition) -> None:
    """Insert or improve the shown entry with one newly scored entry."""
    hib = competition.higher_is_better
    score = submission.public_score
    key = rank_key(higher_is_better=hib, score=score)
    if competition.ladder_enabled:
        step = max(competition.ladder_step, 0.0)
        if row.rank_key is None or key < row.rank_key - step - LADDER_EPS:
            _public_take(row, submission, shown=ladder_round(score, step), competition=competition)
        return
    if (
        row.rank_key is None
        or row.submission_id == submission.pk
        or (key, submission.created_at, submission.pk) < (row.rank_key, row.submitted_at, row.submission_id)
    ):
        _public_take(row, submission, shown=score, competition=competition)


def _public_rebuild(row: BoardEntry, entrant: Entrant, competition: Competition) -> None:
    for field in ("score", "rank_key", "submission_id", "submitted_at", "ci_low", "ci_high"):
        setattr(row, field, None)
    row.extra_scores = {}
    scored = entrant.submissions().filter(status=Status.SCORED, public_score__isnull=False)
    if competition.ladder_enabled:
        # The Ladder depends on the order scores were released: replay it.
        for submission in scored.order_by("finished_at", "id"):
            _public_offer(row, submission, competition)
        return
    best = scored.order_by(*_public_order(competition)).first()
    if best is not None:
        _public_take(row, best, shown=best.public_score, competition=competition)


def _public_order(competition: Competition) -> tuple[str, ...]:
    return ("-public_score" if competition.higher_is_better else "public_score", "created_at", "id")


def final_picks_effective(*, entrant: Entrant, competition: Competition) -> list[Submission]:
    """The chosen final picks, or the best K public entries when none is chosen.

    One query: chosen picks sort first (there are at most K of them), then the best public.
    """
    k = competition.max_final_picks
    scored = entrant.submissions().filter(status=Status.SCORED, public_score__isnull=False)
    fields = ("id", "created_at", "public_score", "private_score", "is_final_pick", "extra_scores")
    first = list(scored.order_by("-is_final_pick", *_public_order(competition)).only(*fields)[:k])
    if first and first[0].is_final_pick:
        return [s for s in first if s.is_final_pick]
    return first


def _private_refresh(row: BoardEntry, entrant: Entrant, competition: Competition) -> None:
    _private_from_picks(row, final_picks_effective(entrant=entrant, competition=competition), competition)


def _private_from_picks(row: BoardEntry, picks, competition: Competition) -> None:
    """The private row: the best private score among the picks (ties as on the public board)."""
    hib = competition.higher_is_better
    best = None
    for pick in picks:
        if pick.private_score is None:
            continue
        candidate = (rank_key(higher_is_better=hib, score=pick.private_score), pick.created_at, pick.pk)
        if best is None or candidate < best[0]:
            best = (candidate, pick)
    if best is None:
        row.private_score = row.private_rank_key = row.private_submission_id = row.private_submitted_at = None
        row.private_extra_scores = {}
        return
    (key, created_at, pk), pick = best
    row.private_score = pick.private_score
    row.private_extra_scores = _private_extras(pick.extra_scores, competition)
    row.private_rank_key = key
    row.private_submission_id = pk
    row.private_submitted_at = created_at


@transaction.atomic(savepoint=False)  # inside the caller's transaction: no savepoint round trips
def board_record_score(*, submission: Submission) -> BoardEntry:
    """Apply one newly scored entry to its entrant's row; call inside the scoring transaction.

    The entry must already be saved as scored with its scores and interval. Entries
    that are not scored change only the entry count.
    """
    competition = submission.competition
    entrant = entrant_of(submission)
    _stamp_team(submission, entrant)
    row = _row_locked(entrant)
    if submission.status == Status.SCORED and submission.public_score is not None:
        if math.isfinite(submission.public_score):
            _public_offer(row, submission, competition)
    _private_from_picks(row, _counts_and_picks(row, entrant, competition), competition)
    _row_write(row)
    return row


@transaction.atomic(savepoint=False)  # inside the caller's transaction: no savepoint round trips
def board_record_entry(*, submission: Submission) -> BoardEntry:
    """Recount the entrant's entries after intake, a failure or a cancellation (idempotent)."""
    entrant = entrant_of(submission)
    _stamp_team(submission, entrant)
    row = _row_locked(entrant)
    _counts_refresh(row, entrant)
    if submission.status in NOT_COUNTED:
        if row.submission_id == submission.pk:
            _public_rebuild(row, entrant, submission.competition)
        _private_refresh(row, entrant, submission.competition)
    row.save()
    return row


@transaction.atomic
def board_rebuild(*, entrant: Entrant) -> BoardEntry | None:
    """Recompute one entrant's row from its entries (after a team merge); removes an empty row."""
    competition = Competition.objects.get(pk=entrant.competition_id)
    if not entrant.submissions().exists():
        BoardEntry.objects.filter(entrant.row_filter).delete()
        return None
    row = _row_locked(entrant)
    _public_rebuild(row, entrant, competition)
    _counts_refresh(row, entrant)
    _private_refresh(row, entrant, competition)
    row.save()
    return row


# --- the private board's reveal ---------------------------------------------------


class Reveal(NamedTuple):
    revealed_now: bool  # False when the board was revealed already
    closed_now: bool  # the competition was open and the reveal closed it


@transaction.atomic
def board_reveal(*, competition: Competition, close: bool = False, now: datetime | None = None) -> Reveal:
    """Make the private board public. Idempotent: revealed_now only for the call that revealed it.

    Private scores are never shown while entries are accepted, since a participant could
    then pick entries by their private score. So a reveal before the deadline closes the
    competition (its end becomes now), and only when the caller asks for it with `close`."""
    now = now or timezone.now()
    fields = ("slug", "starts_at", "ends_at", "private_revealed_at")
    locked = Competition.objects.select_for_update().only(*fields).get(pk=competition.pk)
    result = Reveal(revealed_now=False, closed_now=False)
    if locked.private_revealed_at is None:
        if now < locked.starts_at:
            raise Conflict(
                f"The competition '{locked.slug}' has not started (it opens at "
                f"{locked.starts_at:%Y-%m-%d %H:%M} UTC): there is no private board to reveal.",
                code="not_started",
            )
        closes = now < locked.ends_at
        if closes and not close:
            raise Conflict(
                f"The competition '{locked.slug}' accepts entries until {locked.ends_at:%Y-%m-%d %H:%M} UTC. "
                "Revealing its private board now closes it: no entry is accepted afterwards. "
                'Ask again with {"close": true} to close it and reveal the private board.',
                code="still_open",
            )
        changes = {"private_revealed_at": now, **({"ends_at": now} if closes else {})}
        Competition.objects.filter(pk=competition.pk).update(**changes)
        result = Reveal(revealed_now=True, closed_now=closes)
        competition_id = competition.pk
        transaction.on_commit(lambda: send_reveal_mail(competition_id), robust=True)
    competition.refresh_from_db(fields=["ends_at", "private_revealed_at"])
    return result


def boards_reveal_due(*, now: datetime | None = None) -> list[str]:
    """Reveal every private board whose deadline has passed; returns their slugs."""
    now = now or timezone.now()
    revealed = []
    due = Competition.objects.filter(ends_at__lte=now, private_revealed_at__isnull=True).order_by("ends_at")
    for competition in due:
        if board_reveal(competition=competition, now=now).revealed_now:
            revealed.append(competition.slug)
    return revealed


# --- final picks ----------------------------------------------------------------------


@transaction.atomic
def final_pick_toggle(*, submission_id: int, user, now: datetime | None = None) -> Submission:
    """Choose or unchoose an entry as a final pick for the private board."""
    now = now or timezone.now()
    submission = Submission.objects.select_related("competition").filter(pk=submission_id).first()
    if submission is None:
        raise NotFound(f"No submission #{submission_id}.")
    competition = submission.competition
    entrant = entrant_of(submission)
    mine = (
        entrant.team_id is not None
        and submission.team_id == entrant.team_id
        and competition.teams.filter(pk=entrant.team_id, memberships__user=user).exists()
    ) or (entrant.team_id is None and submission.user_id == user.pk)
    if not mine:
        # Someone else's entry: answer as if it did not exist.
        raise NotFound(f"No submission #{submission_id}.")
    if now >= competition.ends_at:
        raise ApplicationError(
            f"Final picks closed at the deadline, {competition.ends_at:%Y-%m-%d %H:%M} UTC.", code="closed"
        )
    # The entry before the board row: the scorer locks in that order too, so the two never deadlock.
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    row = _row_locked(entrant)
    if not submission.is_final_pick:
        if submission.status != Status.SCORED or submission.public_score is None:
            raise ApplicationError(
                f"Only scored entries can be final picks: #{submission.pk} is {submission.status}.",
                code="not_scored",
            )
        chosen = list(
            entrant.submissions().filter(is_final_pick=True).order_by("id").values_list("id", flat=True)
        )
        if len(chosen) >= competition.max_final_picks:
            listed = ", ".join(f"#{pk}" for pk in chosen)
            raise ApplicationError(
                f"You already chose {len(chosen)} of {competition.max_final_picks} final picks ({listed}); "
                "unpick one first.",
                code="too_many",
            )
    submission.is_final_pick = not submission.is_final_pick
    submission.save(update_fields=["is_final_pick"])
    _private_refresh(row, entrant, competition)
    row.save()
    return submission

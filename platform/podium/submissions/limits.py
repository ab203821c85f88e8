"""Daily and total submission limits, per participant or per team.

Failed and cancelled entries do not count. The count is taken under a row lock on
the Participation (or Team) row, so concurrent requests of one participant queue
up behind each other and can never overshoot the limit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection

from podium.competitions.models import Competition, Participation
from podium.competitions.phases import PhaseView
from podium.submissions.entrants import NOT_COUNTED, Entrant
from podium.submissions.errors import EntrantDisqualified, SubmissionLimitReached
from podium.submissions.models import Disqualification, Submission
from podium.teams.models import Team, TeamMembership


@dataclass(frozen=True)
class Usage:
    scope: str  # "participant" or "team"
    daily_allowed: int
    daily_used: int
    total_allowed: int | None
    total_used: int
    resets_at: datetime

    def as_dict(self) -> dict:
        return {
            "scope": self.scope,
            "daily": {
                "allowed": self.daily_allowed,
                "used": self.daily_used,
                "remaining": max(self.daily_allowed - self.daily_used, 0),
                "resets_at": self.resets_at.isoformat().replace("+00:00", "Z"),
            },
            "total": {
                "allowed": self.total_allowed,
                "used": self.total_used,
                "remaining": None
                if self.total_allowed is None
                else max(self.total_allowed - self.total_used, 0),
            },
        }


def utc_day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def entrant_get(*, competition: Competition, user) -> Entrant | None:
    """Who the user's next entry counts for, in one query: None when the user has not joined.

    The first subquery is teams.selectors.team_id_for's lookup, the second the reason of a
    disqualification in force (the person's, or their team's), folded into the participation
    check so that the intake's hot path stays one statement. A disqualified entrant is
    refused (EntrantDisqualified, 403) with that reason."""
    participation, membership = Participation._meta, TeamMembership._meta
    disqualification = Disqualification._meta.db_table
    row = _fetch_one(
        f"""SELECT t.team_id, (SELECT d.reason FROM {disqualification} d
                    WHERE d.competition_id = t.competition_id AND d.lifted_at IS NULL
                    AND ((d.team_id IS NULL AND d.user_id = t.user_id) OR d.team_id = t.team_id)
                    ORDER BY d.id LIMIT 1)
            FROM (SELECT p.competition_id, p.user_id, (SELECT m.team_id FROM {membership.db_table} m
                    WHERE m.competition_id = p.competition_id AND m.user_id = p.user_id) AS team_id
                  FROM {participation.db_table} p WHERE p.competition_id = %s AND p.user_id = %s) t""",
        [competition.pk, user.pk],
    )
    if row is None:
        return None
    if row[1] is not None:
        raise EntrantDisqualified(competition=competition, team=row[0] is not None, reason=row[1])
    return Entrant.of(competition_id=competition.pk, user_id=user.pk, team_id=row[0])


def limit_scope_lock(*, entrant: Entrant) -> None:
    """Serialise the limit check of one participant (or team). Call inside a transaction.

    On SQLite the transaction's BEGIN IMMEDIATE already holds the database's write lock."""
    if not connection.features.has_select_for_update:
        return
    if entrant.team_id is not None:
        _fetch_one(f"SELECT id FROM {Team._meta.db_table} WHERE id = %s FOR UPDATE", [entrant.team_id])
    else:
        _fetch_one(
            f"SELECT id FROM {Participation._meta.db_table} WHERE competition_id = %s AND user_id = %s FOR UPDATE",
            [entrant.competition_id, entrant.user_id],
        )


def submission_usage(*, phase: PhaseView, user, team: Team | int | None, now: datetime) -> Usage:
    """The entrant's counts in one phase: the daily limit counts every entry of the day (late
    ones too), the total limit the phase's entries inside its window; late entries have no total."""
    team_id = team.pk if isinstance(team, Team) else team
    day_start, day_end = utc_day_bounds(now)
    owner = "team_id = %s" if team_id is not None else "user_id = %s"
    not_counted = ", ".join(["%s"] * len(NOT_COUNTED))
    # Failed and cancelled entries do not count. SQL, see _fetch_one.
    total, today = _fetch_one(
        f"""SELECT COALESCE(SUM(CASE WHEN is_late THEN 0 ELSE 1 END), 0),
                   COALESCE(SUM(CASE WHEN created_at >= %s AND created_at < %s THEN 1 ELSE 0 END), 0)
            FROM {Submission._meta.db_table}
            WHERE phase_id = %s AND {owner} AND status NOT IN ({not_counted})""",
        [
            *map(connection.ops.adapt_datetimefield_value, (day_start, day_end)),
            phase.pk,
            team_id if team_id is not None else user.pk,
            *(status.value for status in NOT_COUNTED),
        ],
    )
    return Usage(
        scope="team" if team is not None else "participant",
        daily_allowed=phase.daily_limit,
        daily_used=today,
        total_allowed=None if phase.is_over(now) else phase.total_limit,
        total_used=total,
        resets_at=day_end,
    )


def _fetch_one(sql: str, params: list):
    # The intake's limit queries are short SQL rather than ORM querysets: building a
    # queryset costs about 1.5 ms of CPU on a 2-core box, running one of these 0.1 ms.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def limits_check(usage: Usage) -> None:
    if usage.total_allowed is not None and usage.total_used >= usage.total_allowed:
        raise SubmissionLimitReached(
            limit="total",
            allowed=usage.total_allowed,
            used=usage.total_used,
            resets_at=None,
            scope=usage.scope,
        )
    if usage.daily_used >= usage.daily_allowed:
        raise SubmissionLimitReached(
            limit="daily",
            allowed=usage.daily_allowed,
            used=usage.daily_used,
            resets_at=usage.resets_at,
            scope=usage.scope,
        )

"""Daily and total submission limits, per participant or per team.

Failed and cancelled entries do not count. The count is taken under a row lock on
the Participation (or Team) row, so concurrent requests of one participant queue
up behind each other and can never overshoot the limit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q, Subquery

from podium.accounts.models import Team, TeamMembership
from podium.competitions.models import Competition, Participation
from podium.submissions.errors import SubmissionLimitReached
from podium.submissions.models import Status, Submission

NOT_COUNTED = (Status.FAILED, Status.CANCELLED)


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


@dataclass(frozen=True)
class Entrant:
    """Who submits: the participation row, and the team when the user is in one."""

    participation_id: int
    team_id: int | None


def entrant_get(*, competition: Competition, user) -> Entrant | None:
    """One query: None when the user has not joined."""
    team = TeamMembership.objects.filter(competition=competition, user=user).values("team_id")[:1]
    row = (
        Participation.objects.filter(competition=competition, user=user)
        .annotate(team_id=Subquery(team))
        .values("pk", "team_id")
        .first()
    )
    return Entrant(participation_id=row["pk"], team_id=row["team_id"]) if row else None


def team_of(*, competition: Competition, user) -> Team | None:
    membership = (
        TeamMembership.objects.select_related("team").filter(competition=competition, user=user).first()
    )
    return membership.team if membership else None


def limit_scope_lock(*, entrant: Entrant) -> None:
    """Serialise the limit check of one participant (or team). Call inside a transaction."""
    if entrant.team_id is not None:
        list(Team.objects.select_for_update().filter(pk=entrant.team_id).values_list("pk", flat=True))
    else:
        list(
            Participation.objects.select_for_update()
            .filter(pk=entrant.participation_id)
            .values_list("pk", flat=True)
        )


def submission_usage(*, competition: Competition, user, team: Team | int | None, now: datetime) -> Usage:
    entries = Submission.objects.filter(competition=competition).exclude(status__in=NOT_COUNTED)
    team_id = team.pk if isinstance(team, Team) else team
    entries = entries.filter(team_id=team_id) if team_id is not None else entries.filter(user=user)
    day_start, day_end = utc_day_bounds(now)
    counts = entries.aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=day_start, created_at__lt=day_end))
    )
    return Usage(
        scope="team" if team is not None else "participant",
        daily_allowed=competition.daily_limit,
        daily_used=counts["today"],
        total_allowed=competition.total_limit,
        total_used=counts["total"],
        resets_at=day_end,
    )


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

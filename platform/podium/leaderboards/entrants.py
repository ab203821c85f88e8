"""Who an entry counts for: its team when it has one, else the person alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from podium.accounts.team_selectors import team_id_for
from podium.submissions.models import Status, Submission

# Failed and cancelled entries never rank and never count (DESIGN.md).
NOT_COUNTED = (Status.FAILED, Status.CANCELLED)


@dataclass(frozen=True)
class Entrant:
    competition_id: int
    user_id: int | None
    team_id: int | None

    @property
    def row_filter(self) -> Q:
        if self.team_id is not None:
            return Q(competition_id=self.competition_id, team_id=self.team_id)
        return Q(competition_id=self.competition_id, user_id=self.user_id, team__isnull=True)

    def submissions(self) -> QuerySet[Submission]:
        if self.team_id is not None:
            return Submission.objects.filter(competition_id=self.competition_id, team_id=self.team_id)
        return Submission.objects.filter(
            competition_id=self.competition_id, user_id=self.user_id, team__isnull=True
        )


def entrant_of(submission: Submission) -> Entrant:
    team_id = submission.team_id
    if team_id is None:
        # An entry made before its author joined a team is moved to the team on joining;
        # this only covers an intake that did not stamp the team.
        team_id = team_id_for(competition_id=submission.competition_id, user_id=submission.user_id)
    if team_id is not None:
        return Entrant(competition_id=submission.competition_id, user_id=None, team_id=team_id)
    return Entrant(competition_id=submission.competition_id, user_id=submission.user_id, team_id=None)


def entrant_for_user(*, competition, user) -> Entrant | None:
    if user is None or not user.is_authenticated:
        return None
    team_id = team_id_for(competition_id=competition.pk, user_id=user.pk)
    if team_id is not None:
        return Entrant(competition_id=competition.pk, user_id=None, team_id=team_id)
    return Entrant(competition_id=competition.pk, user_id=user.pk, team_id=None)


def rank_key(*, higher_is_better: bool, score: float) -> float:
    """Lower is better on every board, whatever the metric's direction."""
    return -score if higher_is_better else score


def aware(value: datetime | str | None) -> datetime | None:
    """A timestamp read by a raw cursor: SQLite hands it back naive (UTC) or as text,
    PostgreSQL aware; the ORM would have made it aware."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

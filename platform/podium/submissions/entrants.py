"""Who an entry counts for: its team when it has one, else the person alone.

The one definition of an entrant, used by the intake's limits, the boards and the teams."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from podium.submissions.models import Status, Submission
from podium.teams.selectors import team_id_for

# Failed and cancelled entries never rank and never count (DESIGN.md).
NOT_COUNTED = (Status.FAILED, Status.CANCELLED)


@dataclass(frozen=True)
class Entrant:
    """A team (team_id set, user_id None) or a person who is in no team (user_id set).

    With `phase_id` it is the entrant on one board of the competition: that phase's
    board (`late` False) or its late board (`late` True), each with its own row and
    entries. Without, it spans the competition (a team merge moves every phase)."""

    competition_id: int
    user_id: int | None
    team_id: int | None
    phase_id: int | None = None
    late: bool = False

    @classmethod
    def of(
        cls,
        *,
        competition_id: int,
        user_id: int,
        team_id: int | None,
        phase_id: int | None = None,
        late=False,
    ) -> Entrant:
        """The entrant a person's entries count for, given their team (None: alone)."""
        if team_id is not None:
            return cls(
                competition_id=competition_id, user_id=None, team_id=team_id, phase_id=phase_id, late=late
            )
        return cls(competition_id=competition_id, user_id=user_id, team_id=None, phase_id=phase_id, late=late)

    def on_board(self, *, phase_id: int, late: bool) -> Entrant:
        return Entrant(self.competition_id, self.user_id, self.team_id, phase_id=phase_id, late=late)

    @property
    def row_filter(self) -> Q:
        if self.team_id is not None:
            q = Q(competition_id=self.competition_id, team_id=self.team_id)
        else:
            q = Q(competition_id=self.competition_id, user_id=self.user_id, team__isnull=True)
        if self.phase_id is not None:
            q &= Q(phase_id=self.phase_id, late=self.late)
        return q

    def submissions(self) -> QuerySet[Submission]:
        if self.team_id is not None:
            qs = Submission.objects.filter(competition_id=self.competition_id, team_id=self.team_id)
        else:
            qs = Submission.objects.filter(
                competition_id=self.competition_id, user_id=self.user_id, team__isnull=True
            )
        if self.phase_id is not None:
            qs = qs.filter(phase_id=self.phase_id, is_late=self.late)
        return qs


def entrant_of(submission: Submission) -> Entrant:
    """The entrant on the board the entry counts on: its phase's, or that phase's late board."""
    team_id = submission.team_id
    if team_id is None:
        # An entry made before its author joined a team is moved to the team on joining;
        # this only covers an intake that did not stamp the team.
        team_id = team_id_for(competition_id=submission.competition_id, user_id=submission.user_id)
    return Entrant.of(
        competition_id=submission.competition_id,
        user_id=submission.user_id,
        team_id=team_id,
        phase_id=submission.phase_id,
        late=submission.is_late,
    )

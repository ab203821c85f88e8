"""Boards kept on write: one row per entrant (participant or team) per competition.

A read never looks at submissions: the rank of a row is its position in the
index on (competition, rank key, submitted_at, submission_id), where the rank
key is the score turned so that lower is always better (docs/leaderboard.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from podium.competitions.models import Competition


class BoardEntry(models.Model):
    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="board_entries"
    )
    # One board per phase, and a late board per phase for entries after its end.
    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="board_entries")
    late = models.BooleanField(default=False)
    # Exactly one of user / team: a team's row replaces its members' rows.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="board_entries"
    )

    # Public board: the shown entry (the best one, or the Ladder's last released one).
    score = models.FloatField(null=True, blank=True)
    rank_key = models.FloatField(null=True, blank=True)  # score if lower is better, else -score
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    # The shown entry's public scores of the competition's other metrics, {name: float|null}.
    extra_scores = models.JSONField(default=dict, blank=True)

    entry_count = models.PositiveIntegerField(default=0)
    last_submitted_at = models.DateTimeField(null=True, blank=True)

    # Private board: the best private score among the final picks; hidden until the reveal.
    private_score = models.FloatField(null=True, blank=True)
    private_rank_key = models.FloatField(null=True, blank=True)
    private_submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    private_submitted_at = models.DateTimeField(null=True, blank=True)
    private_extra_scores = models.JSONField(default=dict, blank=True)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "board entry"
        verbose_name_plural = "board entries"
        constraints = [
            models.UniqueConstraint(
                fields=["phase", "late", "user"],
                condition=Q(team__isnull=True),
                name="board_one_row_per_user_phase",
            ),
            models.UniqueConstraint(
                fields=["phase", "late", "team"],
                condition=Q(team__isnull=False),
                name="board_one_row_per_team_phase",
            ),
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="board_row_is_user_or_team",
            ),
        ]
        indexes = [
            models.Index(
                fields=["phase", "late", "rank_key", "submitted_at", "submission"],
                name="board_phase_public_rank",
                condition=Q(rank_key__isnull=False),
                # With the id in the index a page's ids come from an index-only scan (PostgreSQL).
                include=["id"],
            ),
            models.Index(
                fields=["phase", "late", "private_rank_key", "private_submitted_at", "private_submission"],
                name="board_phase_private_rank",
                condition=Q(private_rank_key__isnull=False),
                include=["id"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entrant_name} @ {self.competition_id}"

    @property
    def entrant_name(self) -> str:
        if self.team_id:
            return self.team.name
        return str(self.user)


class PrivateBoard(Competition):
    """A proxy, so the admin lists competitions with the "reveal the private board now" action."""

    class Meta:
        proxy = True
        verbose_name = "private board"
        verbose_name_plural = "private boards"

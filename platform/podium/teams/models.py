"""Teams: people who enter one competition together and share one board row."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Team(models.Model):
    """A team inside one competition; one board row per team."""

    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="teams"
    )
    name = models.CharField(max_length=80)
    join_code = models.CharField(max_length=32, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table kept its name when the model moved here from accounts (no data moved).
        db_table = "accounts_team"
        constraints = [
            models.UniqueConstraint(fields=["competition", "name"], name="team_name_unique_in_competition")
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    competition = models.ForeignKey("competitions.Competition", on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "accounts_teammembership"
        constraints = [
            # A person is in at most one team per competition.
            models.UniqueConstraint(fields=["competition", "user"], name="one_team_per_competition")
        ]


class TeamJoinRequest(models.Model):
    """A person asks to join a team with its code; a member of the team accepts (the join, or
    the merge of the asker's own team, happens then) or declines (the request goes)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="join_requests")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    competition = models.ForeignKey("competitions.Competition", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_request_per_team_and_user")]

    def __str__(self) -> str:
        return f"{self.user} → {self.team}"

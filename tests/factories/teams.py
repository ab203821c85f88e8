"""Teams, made directly (the team services are what the team tests test)."""

from __future__ import annotations

import secrets


def make_team(competition, *members, name: str = "Owls", join_code: str | None = None):
    """A team of `members` (the first created it); they must have joined the competition."""
    from podium.teams.models import Team, TeamMembership

    team = Team.objects.create(
        competition=competition,
        name=name,
        join_code=join_code or secrets.token_urlsafe(12),
        created_by=members[0],
    )
    for user in members:
        TeamMembership.objects.create(team=team, user=user, competition=competition)
    return team

"""Reads about teams. A person is in at most one team per competition."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, QuerySet

from podium.teams.models import Team, TeamJoinRequest, TeamMembership

_TEAM_ID_FOR = (
    f"SELECT team_id FROM {TeamMembership._meta.db_table} WHERE competition_id = %s AND user_id = %s"
)


def team_id_for(*, competition_id: int, user_id: int) -> int | None:
    """The id of the user's team in this competition, or None when they enter alone.

    Short SQL rather than a queryset: the board's scoring path asks this for every entry
    whose intake did not stamp the team, and building the queryset costs more than running it."""
    with connection.cursor() as cursor:
        cursor.execute(_TEAM_ID_FOR, [competition_id, user_id])
        found = cursor.fetchone()
    return found[0] if found is not None else None


def team_for(*, competition, user) -> Team | None:
    """The caller's team in this competition, or None when they enter alone."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Team.objects.filter(memberships__competition=competition, memberships__user=user).first()


def team_list(*, competition) -> QuerySet[Team]:
    """Teams of a competition with their sizes; join codes are not for the public."""
    return (
        Team.objects.filter(competition=competition)
        .annotate(member_count=Count("memberships"))
        .order_by("name", "id")
    )


def team_members(*, team: Team) -> list:
    return [m.user for m in team.memberships.select_related("user").order_by("joined_at", "id")]


def team_list_for_user(*, user) -> QuerySet[Team]:
    return (
        Team.objects.filter(memberships__user=user)
        .select_related("competition")
        .annotate(member_count=Count("memberships"))
        .order_by("-created_at")
    )


def team_by_code(*, competition, join_code: str) -> Team | None:
    code = (join_code or "").strip()
    if not code:
        return None
    return Team.objects.filter(competition=competition, join_code=code).first()


def team_join_requests(*, team: Team, user) -> list:
    """The requests to join `team`, for its members only (an empty list for anyone else)."""
    if not TeamMembership.objects.filter(team=team, user=user).exists():
        return []
    return list(team.join_requests.select_related("user").order_by("created_at", "id"))


def team_join_requests_of(*, competition, user) -> list:
    """The caller's own pending requests in this competition."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(
        TeamJoinRequest.objects.filter(competition=competition, user=user)
        .select_related("team")
        .order_by("id")
    )


def team_has_entries(*, team: Team) -> bool:
    """A team with entries cannot be left (team_leave's rule): the page offers no Leave then."""
    return team.submissions.exists()

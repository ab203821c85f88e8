"""Reads about teams. A person is in at most one team per competition."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from podium.accounts.models import Team, TeamMembership


def team_for(*, competition, user) -> Team | None:
    """The caller's team in this competition, or None when they enter alone."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    membership = (
        TeamMembership.objects.select_related("team").filter(competition=competition, user=user).first()
    )
    return membership.team if membership else None


def team_id_for(*, competition_id: int, user_id: int) -> int | None:
    return (
        TeamMembership.objects.filter(competition_id=competition_id, user_id=user_id)
        .values_list("team_id", flat=True)
        .first()
    )


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

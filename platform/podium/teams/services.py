"""Writes about teams: create, join by code (a merge), leave. Rules: docs/leaderboard.md.

A team's board row replaces its members' rows: joining moves the joiner's entries
(or their whole team's) to the team and rebuilds the team's row from them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from podium.competitions.models import Competition, Participation
from podium.errors import ApplicationError
from podium.leaderboards.services import board_rebuild
from podium.submissions.entrants import NOT_COUNTED, Entrant
from podium.submissions.models import Submission
from podium.teams.models import Team, TeamMembership

MAX_NAME = 80


def _new_join_code() -> str:
    return secrets.token_urlsafe(12)


def _check_joined(*, competition: Competition, user) -> None:
    if not Participation.objects.filter(competition=competition, user=user).exists():
        raise ApplicationError(
            f"You have not joined the competition '{competition.slug}'. Join it (and accept its rules) first.",
            code="not_joined",
        )


def _check_open(*, competition: Competition, now: datetime) -> None:
    if now >= competition.ends_at:
        raise ApplicationError(
            f"The competition '{competition.slug}' closed at {competition.ends_at:%Y-%m-%d %H:%M} UTC; "
            "teams can no longer change.",
            code="closed",
        )


def days_elapsed(*, competition: Competition, now: datetime) -> int:
    """Started UTC days of the competition, the current one included (0 before the start)."""
    if now < competition.starts_at:
        return 0
    return (now - competition.starts_at) // timedelta(days=1) + 1


def _counted_entries(entrant: Entrant) -> int:
    return entrant.submissions().exclude(status__in=NOT_COUNTED).count()


@transaction.atomic
def team_create(*, user, competition: Competition, name: str, now: datetime | None = None) -> Team:
    """A team of one; the creator's own entries (if any) become the team's."""
    now = now or timezone.now()
    name = (name or "").strip()
    if not name:
        raise ApplicationError("The team name is empty: give the team a name.", code="name")
    if len(name) > MAX_NAME:
        raise ApplicationError(
            f"The team name is {len(name)} characters long; at most {MAX_NAME}.", code="name"
        )
    _check_joined(competition=competition, user=user)
    _check_open(competition=competition, now=now)
    current = TeamMembership.objects.select_related("team").filter(competition=competition, user=user).first()
    if current is not None:
        raise ApplicationError(_in_team_message(current.team), code="in_team")
    if Team.objects.filter(competition=competition, name__iexact=name).exists():
        raise ApplicationError(
            f"A team named '{name}' already exists in this competition.", code="name_taken"
        )
    team = Team.objects.create(
        competition=competition, name=name, join_code=_new_join_code(), created_by=user
    )
    TeamMembership.objects.create(team=team, user=user, competition=competition)
    _move_solo_entries(competition=competition, user=user, team=team)
    return team


def _in_team_message(team: Team) -> str:
    """Offer leaving only where team_leave would allow it: a team with entries cannot be left."""
    entries = Submission.objects.filter(team=team).count()
    if not entries:
        return f"You are already in team '{team.name}' in this competition; leave it first."
    return (
        f"You are already in team '{team.name}' in this competition, and a team with entries "
        f"({entries}) cannot be left; to enter with other people, join their team with its code "
        "(your team merges into theirs)."
    )


def _move_solo_entries(*, competition: Competition, user, team: Team) -> None:
    solo = Entrant(competition_id=competition.pk, user_id=user.pk, team_id=None)
    solo.submissions().update(team=team)
    board_rebuild(entrant=solo)  # the person's own row goes: the team's row holds the entries now
    board_rebuild(entrant=Entrant(competition_id=competition.pk, user_id=None, team_id=team.pk))


@transaction.atomic
def team_join(*, user, join_code: str, now: datetime | None = None) -> Team:
    """Join a team by its code. A joiner already in a team brings the whole team along (a merge)."""
    now = now or timezone.now()
    code = (join_code or "").strip()
    team = Team.objects.select_for_update().select_related("competition").filter(join_code=code).first()
    if not code or team is None:
        raise ApplicationError(f"No team has the join code '{code}'.", code="bad_code")
    competition = team.competition
    _check_joined(competition=competition, user=user)
    _check_open(competition=competition, now=now)
    if competition.merger_deadline is not None and now >= competition.merger_deadline:
        raise ApplicationError(
            f"The team merger deadline of '{competition.slug}' passed at "
            f"{competition.merger_deadline:%Y-%m-%d %H:%M} UTC.",
            code="merger_deadline",
        )
    current = TeamMembership.objects.select_related("team").filter(competition=competition, user=user).first()
    if current is not None and current.team_id == team.pk:
        raise ApplicationError(f"You are already in team '{team.name}'.", code="already_member")
    if current is not None:
        joining = Entrant(competition_id=competition.pk, user_id=None, team_id=current.team_id)
        Team.objects.select_for_update().filter(pk=current.team_id).values_list("pk").get()
    else:
        joining = Entrant(competition_id=competition.pk, user_id=user.pk, team_id=None)
    target = Entrant(competition_id=competition.pk, user_id=None, team_id=team.pk)

    combined = _counted_entries(target) + _counted_entries(joining)
    days = days_elapsed(competition=competition, now=now)
    allowed = competition.daily_limit * days
    if combined > allowed:
        raise ApplicationError(
            f"Merging would give team '{team.name}' {combined} entries, but on day {days} of the competition "
            f"a team may have at most {competition.daily_limit} × {days} = {allowed}.",
            code="too_many_entries",
        )

    joining.submissions().update(team=team)
    merged = target.submissions()
    if merged.filter(is_final_pick=True).count() > competition.max_final_picks:
        # Too many picks between the two sides: the merged team chooses again.
        merged.filter(is_final_pick=True).update(is_final_pick=False)
    if current is not None:
        old_team = current.team
        TeamMembership.objects.filter(team=old_team).update(team=team)
        board_rebuild(entrant=joining)
        old_team.delete()
    else:
        TeamMembership.objects.create(team=team, user=user, competition=competition)
        board_rebuild(entrant=joining)
    board_rebuild(entrant=target)
    return team


@transaction.atomic
def team_leave(*, user, competition: Competition) -> None:
    """Leave before the team's first entry; the last member leaving dissolves the team."""
    membership = (
        TeamMembership.objects.select_related("team").filter(competition=competition, user=user).first()
    )
    if membership is None:
        raise ApplicationError(f"You are not in a team in '{competition.slug}'.", code="not_member")
    team = Team.objects.select_for_update().get(pk=membership.team_id)
    entries = Submission.objects.filter(team=team).count()
    if entries:
        raise ApplicationError(
            f"You cannot leave team '{team.name}': it has made {entries} "
            f"entr{'y' if entries == 1 else 'ies'} already.",
            code="has_entries",
        )
    membership.delete()
    if not team.memberships.exists():
        team.delete()

"""Writes about teams: create, ask to join by code, accept or decline that request (the join,
a merge), leave. Rules: docs/leaderboard.md.

A team's board row replaces its members' rows: joining moves the joiner's entries
(or their whole team's) to the team and rebuilds the team's row from them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from podium.competitions.models import Competition, Participation
from podium.competitions.selectors import competition_phases
from podium.errors import ApplicationError, NotFound
from podium.leaderboards.services import board_rebuild
from podium.submissions.entrants import NOT_COUNTED, Entrant
from podium.submissions.models import Disqualification, Submission
from podium.teams.models import Team, TeamJoinRequest, TeamMembership

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
    if competition.ends_at is not None and now >= competition.ends_at:  # no end: always open
        raise ApplicationError(
            f"The competition '{competition.slug}' closed at {competition.ends_at:%Y-%m-%d %H:%M} UTC; "
            "teams can no longer change.",
            code="closed",
        )


def _check_not_disqualified(*, competition: Competition, user=None, team_id: int | None = None) -> None:
    """A disqualified participant or team cannot form, join or grow a team: their entries would
    come back on the boards through it."""
    from django.db.models import Q

    active = Disqualification.objects.filter(competition=competition, lifted_at__isnull=True)
    who = Q(user=user, team__isnull=True) if user is not None else Q()
    if team_id is not None:
        who |= Q(team_id=team_id)
    found = active.filter(who).first()
    if found is not None:
        whose = "That team was" if found.team_id is not None and found.team_id == team_id else "You were"
        raise ApplicationError(
            f"{whose} disqualified from '{competition.slug}' ({found.reason}); teams cannot change.",
            code="disqualified",
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
    _check_not_disqualified(competition=competition, user=user)
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
    _check_not_disqualified(competition=competition, user=user, team_id=team.pk)
    if current is not None:
        _check_not_disqualified(competition=competition, team_id=current.team_id)
    if current is not None:
        joining = Entrant(competition_id=competition.pk, user_id=None, team_id=current.team_id)
        Team.objects.select_for_update().filter(pk=current.team_id).values_list("pk").get()
    else:
        joining = Entrant(competition_id=competition.pk, user_id=user.pk, team_id=None)
    target = Entrant(competition_id=competition.pk, user_id=None, team_id=team.pk)

    arriving = TeamMembership.objects.filter(team_id=current.team_id).count() if current is not None else 1
    size = TeamMembership.objects.filter(team=team).count() + arriving
    if size > competition.max_team_size:
        raise ApplicationError(
            f"Team '{team.name}' would have {size} members; the rules of '{competition.slug}' allow "
            f"at most {competition.max_team_size}.",
            code="team_full",
        )

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
    for phase in competition_phases(competition):
        picks = merged.filter(phase_id=phase.pk, is_final_pick=True)
        if picks.count() > phase.max_final_picks:
            # Too many picks between the two sides in this phase: the merged team chooses again.
            picks.update(is_final_pick=False)
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


def _team_by_code(code: str) -> Team:
    team = Team.objects.select_related("competition").filter(join_code=code).first() if code else None
    if team is None:
        raise ApplicationError(f"No team has the join code '{code}'.", code="bad_code")
    return team


@transaction.atomic
def team_join_request(*, user, join_code: str, now: datetime | None = None) -> TeamJoinRequest:
    """Ask to join the team with this code: the code alone no longer lets anyone in, a member
    accepts. Refused at once where the join could never be accepted (not joined, closed,
    already a member, a full team); asking twice is the same request."""
    now = now or timezone.now()
    team = _team_by_code((join_code or "").strip())
    competition = team.competition
    _check_joined(competition=competition, user=user)
    _check_open(competition=competition, now=now)
    if TeamMembership.objects.filter(team=team, user=user).exists():
        raise ApplicationError(f"You are already in team '{team.name}'.", code="already_member")
    if TeamMembership.objects.filter(team=team).count() >= competition.max_team_size:
        raise ApplicationError(
            f"Team '{team.name}' is full: the rules of '{competition.slug}' allow "
            f"{competition.max_team_size} members.",
            code="team_full",
        )
    request, _ = TeamJoinRequest.objects.get_or_create(
        team=team, user=user, defaults={"competition": competition}
    )
    return request


def _request_for_member(*, request_id: int, member) -> TeamJoinRequest:
    """The request, locked, if `member` is in its team; NotFound for anyone else (a request
    is not theirs to see)."""
    request = (
        TeamJoinRequest.objects.select_for_update()
        .select_related("team", "user", "competition")
        .filter(pk=request_id, team__memberships__user=member)
        .first()
    )
    if request is None:
        raise NotFound("No such join request for your team.")
    return request


@transaction.atomic
def team_join_accept(*, request_id: int, member, now: datetime | None = None) -> Team:
    """A member lets the asker in: the join (or the merge of the asker's team) as team_join
    does it, under the same rules (entries, team size, deadlines); the request goes."""
    request = _request_for_member(request_id=request_id, member=member)
    team = team_join(user=request.user, join_code=request.team.join_code, now=now)
    request.delete()
    return team


@transaction.atomic
def team_join_decline(*, request_id: int, member) -> None:
    _request_for_member(request_id=request_id, member=member).delete()


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

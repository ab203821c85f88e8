"""Teams: create, join by code (a merge), leave, and their single board row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.errors import ApplicationError
from podium.leaderboards.models import BoardEntry
from podium.leaderboards.selectors import board_page
from podium.submissions.models import Status
from podium.teams.models import Team, TeamMembership
from podium.teams.selectors import team_for
from podium.teams.services import days_elapsed, team_create, team_join, team_leave
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db


def standings(competition):
    page = board_page(competition=competition, page=1, page_size=100)
    return [(r.rank, r.entrant_name, r.kind, r.score, r.entry_count) for r in page.rows]


def test_creating_a_team_turns_the_persons_row_into_the_teams(competition, alice, bob):
    make_participations(competition, alice, bob)
    make_entry(competition, alice, 0.7)
    make_entry(competition, bob, 0.8)
    team = team_create(user=alice, competition=competition, name="Owls")
    assert team_for(competition=competition, user=alice) == team
    assert team_for(competition=competition, user=bob) is None
    assert standings(competition) == [(1, "bob", "participant", 0.8, 1), (2, "Owls", "team", 0.7, 1)]
    assert not BoardEntry.objects.filter(competition=competition, user=alice).exists()


def test_joining_merges_the_rows(competition, alice, bob, charlie):
    make_participations(competition, alice, bob, charlie)
    team = team_create(user=alice, competition=competition, name="Owls")
    make_entry(competition, alice, 0.70, team=team)
    make_entry(competition, alice, 0.90, team=team)
    make_entry(competition, bob, 0.95)
    make_entry(competition, bob, status=Status.FAILED)
    make_entry(competition, charlie, 0.80)
    assert team_join(user=bob, join_code=f"  {team.join_code} ") == team
    # One row: the best of all three entries, three counted entries (the failed one does not count).
    assert standings(competition) == [(1, "Owls", "team", 0.95, 3), (2, "charlie", "participant", 0.80, 1)]
    assert not BoardEntry.objects.filter(competition=competition, user=bob).exists()
    # A member's later entry is the team's.
    make_entry(competition, bob, 0.97)
    assert standings(competition)[0] == (1, "Owls", "team", 0.97, 4)


def test_a_joiner_in_a_team_brings_the_whole_team(competition, alice, bob, charlie):
    make_participations(competition, alice, bob, charlie)
    owls = team_create(user=alice, competition=competition, name="Owls")
    make_entry(competition, alice, 0.7, team=owls)
    larks = team_create(user=bob, competition=competition, name="Larks")
    team_join(user=charlie, join_code=larks.join_code)
    make_entry(competition, charlie, 0.9, team=larks)
    team_join(user=bob, join_code=owls.join_code)
    assert not Team.objects.filter(pk=larks.pk).exists()
    assert set(TeamMembership.objects.filter(team=owls).values_list("user__username", flat=True)) == {
        "alice",
        "bob",
        "charlie",
    }
    assert standings(competition) == [(1, "Owls", "team", 0.9, 2)]


def test_merging_is_refused_beyond_daily_limit_times_days(alice, bob):
    now = timezone.now()
    competition = make_bare_competition(
        starts_at=now - timedelta(hours=30), daily_limit=1
    )  # day 2: at most 2
    make_participations(competition, alice, bob)
    team = team_create(user=alice, competition=competition, name="Owls")
    make_entry(competition, alice, 0.7, team=team)
    make_entry(competition, alice, 0.8, team=team)
    make_entry(competition, bob, 0.9)
    assert days_elapsed(competition=competition, now=now) == 2
    with pytest.raises(ApplicationError, match=r"3 entries, but on day 2 .* at most 1 × 2 = 2"):
        team_join(user=bob, join_code=team.join_code, now=now)
    # Nothing changed.
    assert team_for(competition=competition, user=bob) is None
    assert standings(competition) == [(1, "bob", "participant", 0.9, 1), (2, "Owls", "team", 0.8, 2)]


def test_merging_is_refused_after_the_merger_deadline(alice, bob):
    now = timezone.now()
    competition = make_bare_competition(merger_deadline=now - timedelta(minutes=1))
    make_participations(competition, alice, bob)
    team = team_create(user=alice, competition=competition, name="Owls")
    with pytest.raises(ApplicationError, match="merger deadline"):
        team_join(user=bob, join_code=team.join_code)


def test_join_and_create_errors(competition, alice, bob, charlie):
    make_participations(competition, alice, bob)
    team = team_create(user=alice, competition=competition, name="Owls")
    with pytest.raises(ApplicationError, match="No team has the join code 'nope'"):
        team_join(user=bob, join_code="nope")
    with pytest.raises(ApplicationError, match="have not joined the competition"):
        team_join(user=charlie, join_code=team.join_code)
    with pytest.raises(ApplicationError, match="already exists"):
        team_create(user=bob, competition=competition, name="owls")
    with pytest.raises(ApplicationError, match="name is empty"):
        team_create(user=bob, competition=competition, name="  ")
    with pytest.raises(ApplicationError, match="already in team 'Owls'"):
        team_create(user=alice, competition=competition, name="Other")
    with pytest.raises(ApplicationError, match="already in team 'Owls'"):
        team_join(user=alice, join_code=team.join_code)


def test_leave_only_before_the_first_entry(competition, alice, bob):
    make_participations(competition, alice, bob)
    team = team_create(user=alice, competition=competition, name="Owls")
    team_join(user=bob, join_code=team.join_code)
    team_leave(user=bob, competition=competition)
    assert team_for(competition=competition, user=bob) is None
    team_join(user=bob, join_code=team.join_code)
    make_entry(competition, alice, 0.5, team=team)
    with pytest.raises(ApplicationError, match="cannot leave team 'Owls': it has made 1 entry"):
        team_leave(user=bob, competition=competition)
    with pytest.raises(ApplicationError, match="not in a team"):
        team_leave(user=bob, competition=make_bare_competition())


def test_last_member_leaving_dissolves_the_team(competition, alice):
    make_participations(competition, alice)
    team = team_create(user=alice, competition=competition, name="Owls")
    team_leave(user=alice, competition=competition)
    assert not Team.objects.filter(pk=team.pk).exists()


def test_too_many_picks_after_a_merge_are_cleared(competition, alice, bob, admin_user):
    from podium.leaderboards.services import final_pick_toggle

    make_participations(competition, alice, bob)
    team = team_create(user=alice, competition=competition, name="Owls")
    a1 = make_entry(competition, alice, 0.7, 0.9, team=team)
    a2 = make_entry(competition, alice, 0.6, 0.8, team=team)
    b1 = make_entry(competition, bob, 0.5, 0.99)
    for s, user in ((a1, alice), (a2, alice), (b1, bob)):
        final_pick_toggle(submission_id=s.pk, user=user)
    team_join(user=bob, join_code=team.join_code)
    assert team.submissions.filter(is_final_pick=True).count() == 0
    # Defaults: best two public (.7 and .6) -> best private .9.
    row = BoardEntry.objects.get(team=team)
    assert row.private_score == 0.9


def test_an_entry_without_its_team_stamped_still_counts_for_the_team(competition, alice, bob):
    make_participations(competition, alice, bob)
    team = team_create(user=alice, competition=competition, name="Owls")
    team_join(user=bob, join_code=team.join_code)
    entry = make_entry(competition, bob, 0.6)  # the intake left Submission.team empty
    entry.refresh_from_db()
    assert entry.team_id == team.pk
    assert standings(competition) == [(1, "Owls", "team", 0.6, 1)]

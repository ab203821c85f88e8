"""Boards, final picks, reveal and shake-up are per phase; the late board is apart and never
moves the final ranks. Through the board API as an anonymous visitor, a participant, another
participant and an admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.competitions import services
from podium.errors import ApplicationError
from podium.leaderboards.services import board_reveal, boards_reveal_due, final_pick_toggle
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def phased(alice, bob):
    """Development (ended an hour ago, late entries allowed) then Final (open)."""
    now = timezone.now()
    competition = make_bare_competition(
        slug="phased", starts_at=now - timedelta(days=3), ends_at=now + timedelta(days=3)
    )
    development = competition.phases.get()
    services.phase_update(
        phase=development,
        slug="development",
        title="Development",
        ends_at=now - timedelta(hours=1),
        late_entries=True,
    )
    final = services.phase_create(competition=competition, slug="final", title="Final", max_final_picks=1)
    make_participations(competition, alice, bob)
    competition._phase_rows = None
    return competition, development, final


def board(client, competition, **params):
    answer = client.get(f"/api/competitions/{competition.slug}/leaderboard/", params)
    assert answer.status_code == 200, answer.content
    return [(r["entrant"], r["score"]) for r in answer.json()["results"]]


def test_each_phase_ranks_its_own_entries(phased, alice, bob, anon_api, alice_api, bob_api, admin_api):
    competition, development, final = phased
    make_entry(competition, alice, 0.9, 0.5, phase=development)
    make_entry(competition, bob, 0.7, 0.8, phase=development)
    make_entry(competition, bob, 0.6, 0.6, phase=final)
    for client in (anon_api, alice_api, bob_api, admin_api):
        assert board(client, competition, phase="development") == [("alice", 0.9), ("bob", 0.7)]
        assert board(client, competition, phase="final") == [("bob", 0.6)]
        assert board(client, competition) == [("bob", 0.6)]  # the current phase


def test_reveal_and_shake_up_are_per_phase(phased, alice, bob, anon_api, admin_api):
    competition, development, final = phased
    make_entry(competition, alice, 0.9, 0.5, phase=development)
    make_entry(competition, bob, 0.7, 0.8, phase=development)
    make_entry(competition, bob, 0.6, 0.6, phase=final)
    hidden = anon_api.get(
        f"/api/competitions/{competition.slug}/leaderboard/", {"phase": "development", "board": "private"}
    )
    assert hidden.status_code == 403

    assert boards_reveal_due() == ["phased/development"]  # development ended; final is open
    assert boards_reveal_due() == []
    answer = anon_api.get(
        f"/api/competitions/{competition.slug}/leaderboard/", {"phase": "development", "board": "private"}
    )
    assert answer.status_code == 200
    assert [(r["entrant"], r["score"], r["move"]) for r in answer.json()["results"]] == [
        ("bob", 0.8, 1),
        ("alice", 0.5, -1),
    ]
    # The final phase's private board stays hidden: it is still open.
    final_private = anon_api.get(
        f"/api/competitions/{competition.slug}/leaderboard/", {"phase": "final", "board": "private"}
    )
    assert final_private.status_code == 403
    competition.refresh_from_db()
    assert competition.private_revealed_at is None  # the competition's final board is the last phase's

    refused = admin_api.post(
        f"/api/competitions/{competition.slug}/leaderboard/reveal/", {"phase": "final"}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("Phase 'final' of 'phased' accepts entries until ")
    done = admin_api.post(
        f"/api/competitions/{competition.slug}/leaderboard/reveal/",
        {"phase": "final", "close": True},
        format="json",
    ).json()
    assert done["phase"] == "final" and done["closed_now"] and done["ends_at"] == done["revealed_at"]
    competition.refresh_from_db()
    assert (
        competition.private_revealed_at is not None and competition.ends_at == competition.private_revealed_at
    )


def test_final_picks_are_per_phase(phased, alice):
    competition, development, final = phased
    dev_entry = make_entry(competition, alice, 0.9, 0.5, phase=development)
    a = make_entry(competition, alice, 0.6, 0.6, phase=final)
    b = make_entry(competition, alice, 0.5, 0.9, phase=final)
    with pytest.raises(ApplicationError) as closed:
        final_pick_toggle(submission_id=dev_entry.pk, user=alice)
    assert closed.value.code == "closed"
    final_pick_toggle(submission_id=b.pk, user=alice)
    with pytest.raises(ApplicationError) as too_many:
        final_pick_toggle(submission_id=a.pk, user=alice)  # the final phase allows one pick
    assert too_many.value.detail.startswith("You already chose 1 of 1 final picks")


def test_the_late_board_never_moves_the_final_ranks(phased, alice, bob, bob_api, anon_api):
    competition, development, _ = phased
    make_entry(competition, alice, 0.9, 0.7, phase=development)
    make_entry(competition, bob, 0.7, 0.6, phase=development)
    board_reveal(competition=competition, phase="development")
    before = {b: board(anon_api, competition, phase="development", board=b) for b in ("public", "private")}
    make_entry(competition, bob, 0.99, 0.99, phase=development, late=True)
    make_entry(competition, bob, 0.95, 0.98, phase=development, late=True)
    after = {b: board(anon_api, competition, phase="development", board=b) for b in ("public", "private")}
    assert (
        after
        == before
        == {"public": [("alice", 0.9), ("bob", 0.7)], "private": [("alice", 0.7), ("bob", 0.6)]}
    )
    # The late board ranks bob's best public late entry, with its private score after the reveal.
    assert board(anon_api, competition, phase="development", late="true") == [("bob", 0.99)]
    assert board(anon_api, competition, phase="development", late="true", board="private") == [("bob", 0.99)]
    rows = bob_api.get(
        f"/api/competitions/{competition.slug}/leaderboard/", {"phase": "development", "late": "1"}
    ).json()
    assert rows["late"] is True and rows["mine"]["entrant"] == "bob" and rows["mine"]["entry_count"] == 2


def test_unknown_phase_and_bad_late_value_on_the_board(phased, anon_api):
    competition, *_ = phased
    unknown = anon_api.get(f"/api/competitions/{competition.slug}/leaderboard/", {"phase": "nope"})
    assert unknown.status_code == 404
    assert "has no phase 'nope'; its phases are 'development', 'final'" in unknown.json()["detail"]
    bad = anon_api.get(f"/api/competitions/{competition.slug}/leaderboard/", {"late": "maybe"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "late"
    csv = anon_api.get(f"/api/competitions/{competition.slug}/leaderboard.csv", {"phase": "development"})
    assert csv.status_code == 200
    assert 'filename="phased-development-public-leaderboard.csv"' in csv["Content-Disposition"]


def test_a_team_merge_rebuilds_every_phase_board(phased, alice, bob):
    from podium.leaderboards.models import BoardEntry
    from podium.teams.services import team_create, team_join

    competition, development, final = phased
    make_entry(competition, alice, 0.9, phase=final)
    make_entry(competition, bob, 0.8, phase=final)
    team = team_create(competition=competition, user=alice, name="ab")
    team_join(user=bob, join_code=team.join_code)
    rows = list(
        BoardEntry.objects.filter(competition=competition).values_list("phase__slug", "team__name", "user")
    )
    assert rows == [("final", "ab", None)]

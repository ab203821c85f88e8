"""The board API as every persona: anonymous, the owner (alice), another
participant (bob), someone outside (charlie) and an admin."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from podium.teams.services import team_create
from tests.factories.accounts import make_user
from tests.factories.competitions import make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db

# Private scores with digits that appear nowhere else, so a leak is visible in any body.
ALICE_PRIVATE, BOB_PRIVATE = 0.71234567, 0.61234567


@pytest.fixture
def board(competition, alice, bob):
    make_participations(competition, alice, bob)
    a1 = make_entry(competition, alice, 0.80, ALICE_PRIVATE, ci=(0.75, 0.87))
    b1 = make_entry(competition, bob, 0.90, BOB_PRIVATE, ci=(0.86, 0.94))
    return {"a1": a1, "b1": b1}


def close(competition):
    """The deadline passes: the competition stops accepting entries (not revealed)."""
    competition.ends_at = timezone.now() - timedelta(seconds=1)
    competition.save(update_fields=["ends_at"])


def url(competition, suffix="leaderboard/"):
    return f"/api/competitions/{competition.slug}/{suffix}"


@pytest.mark.parametrize("persona", ["anon_api", "alice_api", "bob_api", "charlie_api", "admin_api"])
def test_public_board_for_everyone_without_private_scores(request, board, competition, persona):
    client = request.getfixturevalue(persona)
    response = client.get(url(competition))
    assert response.status_code == 200
    body = response.json()
    assert [(r["rank"], r["entrant"], r["score"], r["overlaps_leader"]) for r in body["results"]] == [
        (1, "bob", 0.90, False),
        (2, "alice", 0.80, True),
    ]
    text = json.dumps(body)
    if persona != "admin_api":
        assert "1234567" not in text
    csv_text = client.get(url(competition), {"format": "csv"}).content.decode()
    assert "1234567" not in csv_text


@pytest.mark.parametrize("persona", ["anon_api", "alice_api", "bob_api", "charlie_api", "admin_api"])
def test_private_board_is_refused_before_the_reveal(request, board, competition, persona):
    client = request.getfixturevalue(persona)
    for response in (
        client.get(url(competition), {"board": "private"}),
        client.get(url(competition, "leaderboard.csv"), {"board": "private"}),
        client.get(url(competition), {"board": "private", "format": "csv"}),
    ):
        assert response.status_code in (401, 403)
        assert "1234567" not in response.content.decode()
        assert b"hidden while entries are accepted" in response.content or response.status_code == 401


def test_history_hides_private_scores_from_the_owner_before_the_reveal(board, competition, alice_api, alice):
    row = BoardEntry.objects.get(user=alice)
    response = alice_api.get(url(competition, f"leaderboard/rows/{row.pk}/history/"))
    assert response.status_code == 200
    assert "1234567" not in response.content.decode()
    assert response.json()["results"][0]["private_score"] is None


def test_admin_sees_the_private_board_after_the_close_before_the_reveal(board, competition, admin_api):
    close(competition)
    response = admin_api.get(url(competition), {"board": "private"})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["rank"], r["entrant"], r["score"], r["public_rank"], r["move"]) for r in rows] == [
        (1, "alice", ALICE_PRIVATE, 2, 1),
        (2, "bob", BOB_PRIVATE, 1, -1),
    ]


def test_reveal_by_admin_only_then_everyone_sees_the_shake_up(
    board, competition, anon_api, alice_api, admin_api
):
    assert anon_api.post(url(competition, "leaderboard/reveal/")).status_code in (401, 403)
    assert alice_api.post(url(competition, "leaderboard/reveal/")).status_code == 403
    competition.refresh_from_db()
    assert competition.private_revealed_at is None
    response = admin_api.post(url(competition, "leaderboard/reveal/"), {"close": True}, format="json")
    assert response.status_code == 200 and response.json()["revealed_now"] is True
    assert admin_api.post(url(competition, "leaderboard/reveal/")).json()["revealed_now"] is False
    body = anon_api.get(url(competition), {"board": "private"}).json()
    assert [(r["entrant"], r["public_rank"], r["private_rank"], r["move"]) for r in body["results"]] == [
        ("alice", 2, 1, 1),
        ("bob", 1, 2, -1),
    ]
    assert body["revealed"] is True and body["mine"] is None
    mine = alice_api.get(url(competition), {"board": "private"}).json()["mine"]
    assert (mine["entrant"], mine["private_rank"], mine["public_rank"], mine["is_mine"]) == (
        "alice",
        1,
        2,
        True,
    )


def test_own_row_is_included_beside_any_page(board, competition, alice_api, bob_api, anon_api):
    body = alice_api.get(url(competition), {"page": 1, "page_size": 1}).json()
    assert [r["entrant"] for r in body["results"]] == ["bob"]
    assert (body["mine"]["rank"], body["mine"]["entrant"], body["mine"]["is_mine"]) == (2, "alice", True)
    assert (body["count"], body["pages"]) == (2, 2)
    assert bob_api.get(url(competition), {"page_size": 1}).json()["results"][0]["is_mine"] is True
    assert anon_api.get(url(competition)).json()["mine"] is None


def test_bad_query_parameters_are_named(board, competition, anon_api):
    for query, name in (({"board": "secret", "page": 0}, "board"), ({"page": 0}, "page")):
        response = anon_api.get(url(competition), query)
        assert (response.status_code, response.json()["parameter"]) == (400, name)
        assert repr(name) in response.json()["detail"]
    assert anon_api.get("/api/competitions/no-such/leaderboard/").status_code == 404


def test_csv_export(board, competition, anon_api, alice, bob):
    team = team_create(user=bob, competition=competition, name="=HYPERLINK(1)")
    assert team
    response = anon_api.get(url(competition, "leaderboard.csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["rank"], r["entrant"], r["score"], r["overlaps_leader"]) for r in rows] == [
        ("1", "'=HYPERLINK(1)", "0.9", "False"),
        ("2", "alice", "0.8", "True"),
    ]
    same = anon_api.get(url(competition), {"format": "csv"})
    assert same.content == response.content


def test_list_query_count_does_not_grow_with_rows(competition, alice_api):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert alice_api.get(url(competition), {"page_size": 100}).status_code == 200
        return len(ctx.captured_queries)

    users = [make_user(f"p{i}") for i in range(12)]
    make_participations(competition, *users)
    for i, user in enumerate(users[:3]):
        make_entry(competition, user, 0.5 + i / 100)
    few = queries()
    for i, user in enumerate(users[3:]):
        make_entry(competition, user, 0.6 + i / 100)
    assert queries() == few
    # Auth is forced. The competition, its phases (which board is meant), then one statement:
    # the page, the caller's row and rank, the row count and the leader.
    assert few == 3, few


def test_public_page_statement_ranks_teams_and_the_callers_row(
    competition, alice_api, bob_api, anon_api, alice, bob
):
    users = [make_user(f"q{i}", display_name=f"Q {i}") for i in range(4)]
    make_participations(competition, alice, bob, *users)
    team = team_create(user=bob, competition=competition, name="Owls")
    make_entry(competition, bob, 0.70, team=team)
    for i, user in enumerate(users):
        make_entry(competition, user, 0.90 - i / 100)  # q0 0.90 … q3 0.87
    make_entry(competition, alice, 0.60)
    make_entry(competition, make_user("nobody"), None, status="failed")
    body = bob_api.get(url(competition), {"page": 2, "page_size": 2}).json()
    assert (body["count"], body["pages"]) == (6, 3)
    assert [(r["rank"], r["entrant"], r["kind"], r["is_mine"]) for r in body["results"]] == [
        (3, "Q 2", "participant", False),
        (4, "Q 3", "participant", False),
    ]
    assert (body["mine"]["rank"], body["mine"]["entrant"], body["mine"]["kind"]) == (5, "Owls", "team")
    last = alice_api.get(url(competition), {"page": 3, "page_size": 2}).json()
    assert [(r["rank"], r["entrant"], r["is_mine"]) for r in last["results"]] == [
        (5, "Owls", False),
        (6, "alice", True),
    ]
    assert last["mine"]["rank"] == 6 and last["mine"]["submitted_at"].endswith("Z")
    assert bob_api.get(url(competition), {"page": 3, "page_size": 2}).json()["results"][0]["is_mine"] is True
    assert anon_api.get(url(competition), {"page": 9}).json()["results"] == []


def test_history_for_the_owner_and_admins_only(
    board, competition, alice_api, bob_api, anon_api, admin_api, alice
):
    row = BoardEntry.objects.get(user=alice)
    path = url(competition, f"leaderboard/rows/{row.pk}/history/")
    body = alice_api.get(path).json()
    assert [
        (h["submission_id"], h["public_score"], h["shown_on_board"], h["counts_as_final_pick"])
        for h in body["results"]
    ] == [(board["a1"].pk, 0.80, True, True)]
    assert bob_api.get(path).status_code == 404
    assert anon_api.get(path).status_code in (401, 403)
    assert admin_api.get(path).json()["results"][0]["private_score"] is None  # entries still accepted
    close(competition)
    assert admin_api.get(path).json()["results"][0]["private_score"] == ALICE_PRIVATE
    assert alice_api.get(path).json()["results"][0]["private_score"] is None  # not revealed yet


def test_final_pick_toggle_api(board, competition, alice_api, bob_api, anon_api, alice):
    path = f"/api/submissions/{board['a1'].pk}/final-pick/"
    assert anon_api.post(path).status_code in (401, 403)
    assert bob_api.post(path).status_code == 404
    response = alice_api.post(path)
    assert response.status_code == 200 and response.json() == {
        "submission_id": board["a1"].pk,
        "is_final_pick": True,
    }
    assert alice_api.post(path).json()["is_final_pick"] is False
    extra = [make_entry(competition, alice, 0.5) for _ in range(3)]
    for s in extra[:2]:
        alice_api.post(f"/api/submissions/{s.pk}/final-pick/")
    response = alice_api.post(f"/api/submissions/{extra[2].pk}/final-pick/")
    assert response.status_code == 400
    assert "already chose 2 of 2 final picks" in response.json()["detail"]


def test_history_under_the_ladder_withholds_exact_public_scores(alice_api, admin_api, alice):
    from tests.factories.competitions import make_bare_competition

    competition = make_bare_competition(ladder_enabled=True, ladder_step=0.05)
    make_participations(competition, alice)
    first = make_entry(competition, alice, 0.80)
    make_entry(competition, alice, 0.83)
    row = BoardEntry.objects.get(user=alice)
    path = url(competition, f"leaderboard/rows/{row.pk}/history/")
    items = alice_api.get(path).json()["results"]
    assert [(h["public_score"], h["shown_on_board"]) for h in items] == [(None, False), (None, True)]
    assert items[1]["submission_id"] == first.pk
    assert [h["public_score"] for h in admin_api.get(path).json()["results"]] == [0.83, 0.80]
    board = alice_api.get(url(competition)).json()
    assert board["ladder"] == {"enabled": True, "step": 0.05}
    assert [r["score"] for r in board["results"]] == [0.80]

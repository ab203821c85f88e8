"""The team API as every persona: anonymous, the creator (alice), a joiner (bob) and
someone who has not joined the competition (charlie)."""

from __future__ import annotations

import json

import pytest

from tests.factories.competitions import make_participations

pytestmark = pytest.mark.django_db


def url(competition, suffix):
    return f"/api/competitions/{competition.slug}/{suffix}"


def test_team_api(competition, alice_api, bob_api, charlie_api, anon_api, alice, bob):
    make_participations(competition, alice, bob)
    base = url(competition, "teams/")
    assert anon_api.post(base, {"name": "Owls"}, format="json").status_code in (401, 403)
    response = charlie_api.post(base, {"name": "Owls"}, format="json")
    assert response.status_code == 400 and "have not joined" in response.json()["detail"]
    created = alice_api.post(base, {"name": "Owls"}, format="json")
    assert created.status_code == 201
    code = created.json()["join_code"]
    # The public list never shows join codes.
    listed = anon_api.get(base).json()["results"]
    assert [(t["name"], t["member_count"]) for t in listed] == [("Owls", 1)]
    assert code not in json.dumps(listed)
    bad = bob_api.post(base + "join/", {"code": "wrong"}, format="json")
    assert bad.status_code == 400 and "wrong" in bad.json()["detail"]
    # The code asks; a member of the team lets bob in.
    asked = bob_api.post(base + "join/", {"code": code}, format="json")
    assert asked.status_code == 202 and asked.json()["team"] == "Owls" and asked.json()["user"] == "bob"
    assert bob_api.get(base + "mine/").status_code == 404  # not in yet
    assert bob_api.get(base + "requests/").json() == {"results": []}  # not a member: sees none
    pending = alice_api.get(base + "requests/").json()["results"]
    assert [r["user"] for r in pending] == ["bob"]
    request_id = pending[0]["id"]
    # Only a member accepts: bob cannot let himself in, charlie cannot either.
    assert bob_api.post(base + f"requests/{request_id}/accept/").status_code == 404
    assert charlie_api.post(base + f"requests/{request_id}/accept/").status_code == 404
    joined = alice_api.post(base + f"requests/{request_id}/accept/")
    assert joined.status_code == 200 and joined.json()["members"] == ["alice", "bob"]
    assert alice_api.get(base + "requests/").json() == {"results": []}
    assert bob_api.get(base + "mine/").json()["join_code"] == code
    assert charlie_api.get(base + "mine/").status_code == 404
    assert bob_api.post(base + "leave/").json() == {"left": True}
    assert bob_api.post(base + "leave/").status_code == 400


def test_the_rules_team_size_is_enforced_on_requests_and_joins(
    competition, alice_api, bob_api, charlie_api, alice, bob, charlie
):
    competition.max_team_size = 2
    competition.save(update_fields=["max_team_size"])
    make_participations(competition, alice, bob, charlie)
    base = url(competition, "teams/")
    code = alice_api.post(base, {"name": "Owls"}, format="json").json()["join_code"]
    bob_asks = bob_api.post(base + "join/", {"code": code}, format="json").json()["id"]
    charlie_asks = charlie_api.post(base + "join/", {"code": code}, format="json").json()["id"]
    assert alice_api.post(base + f"requests/{bob_asks}/accept/").status_code == 200
    # Full: the second acceptance is refused with the rule, and a new request too.
    refused = alice_api.post(base + f"requests/{charlie_asks}/accept/")
    assert refused.status_code == 400 and refused.json()["code"] == "team_full"
    assert "at most 2" in refused.json()["detail"]
    again = charlie_api.post(base + "join/", {"code": code}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "team_full"
    # Declining removes the request.
    assert alice_api.post(base + f"requests/{charlie_asks}/decline/").json() == {"declined": True}
    assert alice_api.get(base + "requests/").json() == {"results": []}


def test_leaving_is_offered_only_where_it_is_allowed(competition, alice_api, alice):
    from tests.factories.submissions import make_submission

    make_participations(competition, alice)
    base = url(competition, "teams/")
    assert alice_api.post(base, {"name": "Owls"}, format="json").status_code == 201
    again = alice_api.post(base, {"name": "Larks"}, format="json").json()
    assert again["detail"] == "You are already in team 'Owls' in this competition; leave it first."
    from podium.teams.models import Team

    team = Team.objects.get(name="Owls")
    make_submission(competition, alice, team=team)
    refused = alice_api.post(base, {"name": "Larks"}, format="json").json()
    assert "leave it first" not in refused["detail"]
    assert "cannot be left" in refused["detail"] and "join their team with its code" in refused["detail"]
    assert alice_api.post(base + "leave/").status_code == 400  # the advice matches what leaving does

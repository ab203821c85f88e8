"""Creating, updating and closing competitions through the API, and hosts: a host manages
their competition without being staff, and cannot touch another one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.competitions.models import AuditEvent, Competition, CompetitionHost, Participation
from tests.factories.competitions import make_dataset

pytestmark = pytest.mark.django_db


def _new(slug="scripted", **over):
    now = timezone.now()
    body = {
        "slug": slug,
        "title": "Scripted",
        "dataset": "iris",
        "metric": "accuracy",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=5)).isoformat(),
        "daily_limit": 3,
    }
    body.update(over)
    return body


def test_staff_creates_a_competition_with_its_answer_key(admin_api):
    make_dataset("iris")
    answer = admin_api.post("/api/competitions/", _new(join_policy="approval"), format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["slug"] == "scripted" and body["rules"]["daily_limit"] == 3
    created = Competition.objects.get(slug="scripted")
    assert created.answer_key_sha256 and created.n_public > 0 and created.join_policy == "approval"


@pytest.mark.parametrize(
    "over, field",
    [
        ({"metric": "bleu"}, "metric"),
        ({"metric": "rmse"}, "metric"),  # a regression metric on a classification dataset
        ({"ends_at": (timezone.now() - timedelta(days=3)).isoformat()}, "ends_at"),
        ({"dataset": "no-such-data"}, None),
        ({"accepts_predictions": False, "accepts_configs": False}, "accepts_predictions"),
        ({"public_fraction": 1.5}, "public_fraction"),
        ({"daily_limit": 0}, "daily_limit"),
    ],
)
def test_bad_competitions_are_refused_naming_the_field_and_nothing_is_stored(admin_api, over, field):
    make_dataset("iris")
    answer = admin_api.post("/api/competitions/", _new(**over), format="json")
    assert answer.status_code == 400, answer.content
    body = answer.json()
    if field:
        assert field in body, body
    else:
        assert "no-such-data" in body["detail"]
    assert not Competition.objects.filter(slug="scripted").exists()


def test_a_taken_slug_is_refused(admin_api, cup_a):
    answer = admin_api.post("/api/competitions/", _new(slug="cup-a"), format="json")
    assert answer.status_code == 400 and "exists" in answer.json()["detail"]


@pytest.mark.parametrize("who", ["host_api", "alice_api", "anon_api"])
def test_only_staff_create(request, who):
    make_dataset("iris")
    client = request.getfixturevalue(who)
    answer = client.post("/api/competitions/", _new(), format="json")
    assert answer.status_code in (401, 403)
    assert not Competition.objects.filter(slug="scripted").exists()


def test_host_updates_their_competition_and_it_is_audited(host_api, host, cup_a):
    answer = host_api.patch("/api/competitions/cup-a/", {"title": "Renamed", "daily_limit": 9}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["title"] == "Renamed" and answer.json()["rules"]["daily_limit"] == 9
    event = AuditEvent.objects.get(competition=cup_a, action="competition_update")
    assert event.actor == host and event.data["changed"]["daily_limit"] == {"from": 5, "to": 9}


def test_frozen_and_unknown_fields_are_refused_by_name(host_api, cup_a):
    answer = host_api.patch(
        "/api/competitions/cup-a/", {"metric": "macro_f1", "colour": "red"}, format="json"
    )
    assert answer.status_code == 400
    body = answer.json()
    assert "metric" in body and "colour" in body
    cup_a.refresh_from_db()
    assert cup_a.metric == "accuracy"


def test_update_that_breaks_a_rule_saves_nothing(host_api, cup_a):
    before = cup_a.ends_at
    answer = host_api.patch(
        "/api/competitions/cup-a/",
        {"title": "X", "ends_at": (cup_a.starts_at - timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert answer.status_code == 400 and "ends_at" in answer.json()
    cup_a.refresh_from_db()
    assert cup_a.ends_at == before and cup_a.title != "X"


@pytest.mark.parametrize("who, status", [("host_api", 403), ("alice_api", 403), ("anon_api", 403)])
def test_host_of_a_cannot_touch_b_nor_can_others(request, cup_b, host, who, status):
    client = request.getfixturevalue(who)
    for method, url, body in [
        ("patch", "/api/competitions/cup-b/", {"title": "Mine now"}),
        ("post", "/api/competitions/cup-b/close/", {}),
        ("post", "/api/competitions/cup-b/rescore/", {}),
        ("get", "/api/competitions/cup-b/dashboard/", None),
        ("get", "/api/competitions/cup-b/participants/", None),
        ("get", "/api/competitions/cup-b/audit/", None),
        ("post", "/api/competitions/cup-b/invitations/", {"username": "alice"}),
        ("post", "/api/competitions/cup-b/disqualifications/", {"username": "alice", "reason": "x"}),
    ]:
        answer = getattr(client, method)(url, body, format="json") if body is not None else client.get(url)
        assert answer.status_code in ((401, 403) if who == "anon_api" else (status,)), (url, answer.content)
    cup_b.refresh_from_db()
    assert cup_b.title != "Mine now" and cup_b.ends_at > timezone.now()


def test_staff_manage_any_competition(admin_api, cup_b):
    assert (
        admin_api.patch("/api/competitions/cup-b/", {"title": "By staff"}, format="json").status_code == 200
    )
    assert admin_api.get("/api/competitions/cup-b/dashboard/").status_code == 200


def test_close_ends_the_competition_now_once(host_api, cup_a):
    answer = host_api.post("/api/competitions/cup-a/close/", {"reason": "done early"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "past"
    again = host_api.post("/api/competitions/cup-a/close/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "closed"
    assert AuditEvent.objects.filter(
        competition=cup_a, action="competition_close", reason="done early"
    ).exists()


def test_only_staff_make_hosts(admin_api, host_api, cup_a, alice):
    assert (
        host_api.post("/api/competitions/cup-a/hosts/", {"username": "alice"}, format="json").status_code
        == 403
    )
    answer = admin_api.post("/api/competitions/cup-a/hosts/", {"username": "alice"}, format="json")
    assert answer.status_code == 201 and answer.json()["username"] == "alice"
    assert {h["username"] for h in host_api.get("/api/competitions/cup-a/hosts/").json()} == {
        "hannah",
        "alice",
    }
    unknown = admin_api.post("/api/competitions/cup-a/hosts/", {"username": "nobody"}, format="json")
    assert unknown.status_code == 400 and "nobody" in unknown.json()["detail"]
    assert admin_api.delete("/api/competitions/cup-a/hosts/alice/").status_code == 204
    assert not CompetitionHost.objects.filter(competition=cup_a, user=alice).exists()


def test_a_host_sees_their_draft_but_not_others_drafts(host_api, alice_api, cup_a, cup_b):
    Competition.objects.filter(pk__in=[cup_a.pk, cup_b.pk]).update(is_published=False)
    assert host_api.get("/api/competitions/cup-a/").status_code == 200
    assert host_api.get("/api/competitions/cup-b/").status_code == 404
    assert alice_api.get("/api/competitions/cup-a/").status_code == 404


def test_hosts_never_get_hidden_labels(host_api, cup_a, cup_b):
    for slug in ("cup-a", "cup-b"):
        for name in ("test_labels.csv", "answer_key.csv"):
            assert host_api.get(f"/api/competitions/{slug}/data/{name}").status_code in (403, 404)
    listed = {f["name"] for f in host_api.get("/api/competitions/cup-a/data/").json()["files"]}
    assert "test_labels.csv" not in listed
    # The host may download the public files of their own competition without joining.
    assert host_api.get("/api/competitions/cup-a/data/train.csv").status_code == 200


def test_invite_only(host_api, alice_api, bob_api, cup_a, alice):
    host_api.patch("/api/competitions/cup-a/", {"join_policy": "invite"}, format="json")
    refused = alice_api.post("/api/competitions/cup-a/join/", {"accept_rules": True}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "invitation_required"
    assert (
        host_api.post(
            "/api/competitions/cup-a/invitations/", {"username": "alice"}, format="json"
        ).status_code
        == 201
    )
    assert (
        alice_api.post("/api/competitions/cup-a/join/", {"accept_rules": True}, format="json").status_code
        == 200
    )
    assert (
        bob_api.post("/api/competitions/cup-a/join/", {"accept_rules": True}, format="json").status_code
        == 403
    )
    assert Participation.objects.filter(competition=cup_a).count() == 1


def test_approval_to_join(host_api, alice_api, bob_api, cup_a, alice, bob):
    host_api.patch("/api/competitions/cup-a/", {"join_policy": "approval"}, format="json")
    refused = alice_api.post("/api/competitions/cup-a/join/", {"accept_rules": True}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "approval_required"
    asked = alice_api.post("/api/competitions/cup-a/join-requests/", {}, format="json")
    assert asked.status_code == 201 and asked.json()["state"] == "pending"
    bob_asked = bob_api.post("/api/competitions/cup-a/join-requests/", {}, format="json").json()
    # Participants cannot read or decide requests.
    assert alice_api.get("/api/competitions/cup-a/join-requests/").status_code == 403
    rid = asked.json()["id"]
    assert (
        alice_api.post(
            f"/api/competitions/cup-a/join-requests/{rid}/", {"approve": True}, format="json"
        ).status_code
        == 403
    )
    approved = host_api.post(
        f"/api/competitions/cup-a/join-requests/{rid}/", {"approve": True}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    declined = host_api.post(
        f"/api/competitions/cup-a/join-requests/{bob_asked['id']}/",
        {"approve": False, "reason": "not a lab member"},
        format="json",
    )
    assert declined.status_code == 200
    again = bob_api.post("/api/competitions/cup-a/join-requests/", {}, format="json")
    assert again.status_code == 409 and "not a lab member" in again.json()["detail"]
    assert list(Participation.objects.filter(competition=cup_a).values_list("user__username", flat=True)) == [
        "alice"
    ]
    assert {p["username"] for p in host_api.get("/api/competitions/cup-a/participants/").json()} == {"alice"}


def test_host_allows_sweeps_and_ensembles_within_the_schemas_bound(host_api, cup_a):
    from common.protocol import MAX_VARIANTS

    answer = host_api.patch("/api/competitions/cup-a/", {"max_variants": 4}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["rules"]["budget"]["max_variants"] == 4
    cup_a.refresh_from_db()
    assert cup_a.max_variants == 4
    for bad in (0, MAX_VARIANTS + 1):
        refused = host_api.patch("/api/competitions/cup-a/", {"max_variants": bad}, format="json")
        assert refused.status_code == 400 and "max_variants" in refused.json()
    cup_a.refresh_from_db()
    assert cup_a.max_variants == 4


def test_host_sets_the_daily_lab_quota_and_may_switch_ablations_off(host_api, cup_a):
    from podium.competitions.models import LAB_DAILY_EPOCHS_MAX

    for value in (0, 600):
        answer = host_api.patch("/api/competitions/cup-a/", {"lab_daily_epochs": value}, format="json")
        assert answer.status_code == 200, answer.content
        assert answer.json()["rules"]["budget"]["lab_daily_epochs"] == value
    for bad in (-1, LAB_DAILY_EPOCHS_MAX + 1):
        refused = host_api.patch("/api/competitions/cup-a/", {"lab_daily_epochs": bad}, format="json")
        assert refused.status_code == 400 and "lab_daily_epochs" in refused.json()
    cup_a.refresh_from_db()
    assert cup_a.lab_daily_epochs == 600

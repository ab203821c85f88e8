"""The phases API: anyone who may see a competition lists its phases; staff create, change and
close them with the admin's rules. Bad windows (inverted, overlapping, outside the
competition, an open end before another phase) are refused with every problem named and
nothing stored. As an anonymous visitor, a participant, another participant and staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.competitions.models import Phase
from tests.factories.competitions import make_bare_competition, make_participations

pytestmark = pytest.mark.django_db


@pytest.fixture
def competition(alice, bob):
    now = timezone.now()
    competition = make_bare_competition(
        slug="cup", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=9)
    )
    make_participations(competition, alice)  # bob has not joined
    return competition


def url(competition, *rest):
    return "/".join([f"/api/competitions/{competition.slug}/phases", *rest, ""]).replace("//", "/")


def iso(value):
    return value.isoformat()


def test_everyone_reads_the_phases_with_settings_resolved(
    competition, anon_api, alice_api, bob_api, admin_api
):
    for client in (anon_api, alice_api, bob_api, admin_api):
        answer = client.get(url(competition))
        assert answer.status_code == 200
        (main,) = answer.json()
        assert main["slug"] == "main" and main["current"] and main["status"] == "open"
        assert main["daily_limit"] == 5 and main["max_final_picks"] == 2  # the competition's
        assert main["starts_at"].startswith(competition.starts_at.isoformat()[:19])
        assert set(main) >= {"accepted_kinds", "budget", "own_test_split", "late_entries", "revealed_at"}
        assert "answer_key" not in str(main)


def test_a_draft_competitions_phases_are_staff_only(competition, anon_api, alice_api, admin_api):
    competition.is_published = False
    competition.save(update_fields=["is_published"])
    assert anon_api.get(url(competition)).status_code == 404
    assert alice_api.get(url(competition)).status_code == 404
    assert admin_api.get(url(competition)).status_code == 200


def test_only_staff_write_phases(competition, anon_api, alice_api, bob_api, admin_api):
    body = {"slug": "final", "title": "Final", "starts_at": iso(timezone.now() + timedelta(days=3))}
    for client, status in ((anon_api, 401), (alice_api, 403), (bob_api, 403)):
        assert client.post(url(competition), body, format="json").status_code == status
        assert client.patch(url(competition, "main"), {"title": "X"}, format="json").status_code == status
        assert client.post(url(competition, "main", "close")).status_code == status
    assert Phase.objects.filter(competition=competition).count() == 1


def test_staff_split_a_competition_into_development_and_final(competition, admin_api, alice_api):
    now = timezone.now()
    changed = admin_api.patch(
        url(competition, "main"),
        {"slug": "development", "title": "Development", "ends_at": iso(now + timedelta(days=3))},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    created = admin_api.post(
        url(competition),
        {"slug": "final", "title": "Final", "daily_limit": 2, "late_entries": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    final = created.json()
    assert final["number"] == 2 and final["status"] == "upcoming" and final["daily_limit"] == 2
    assert final["starts_at"] == changed.json()["ends_at"]  # an empty start meets the previous end
    assert final["ends_at"].startswith(competition.ends_at.isoformat()[:19])  # the last: the competition's
    listed = alice_api.get(url(competition)).json()
    assert [(p["slug"], p["current"]) for p in listed] == [("development", True), ("final", False)]
    assert alice_api.get(url(competition, "final")).json() == {**final, "current": False}
    missing = alice_api.get(url(competition, "nope"))
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "The competition 'cup' has no phase 'nope'; its phases are 'development', 'final'."
    )


def test_closing_a_phase_ends_it_now_and_opens_the_next(competition, admin_api):
    now = timezone.now()
    Phase.objects.filter(competition=competition).update(ends_at=now + timedelta(days=3))
    assert (
        admin_api.post(url(competition), {"slug": "final", "title": "Final"}, format="json").status_code
        == 201
    )
    closed = admin_api.post(url(competition, "main", "close"))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    phases = admin_api.get(url(competition)).json()
    assert [(p["slug"], p["status"], p["current"]) for p in phases] == [
        ("main", "closed", False),
        ("final", "open", True),
    ]
    again = admin_api.post(url(competition, "main", "close"))
    assert again.status_code == 409
    assert again.json()["detail"] == "Phase 'main' of 'cup' is closed: only an open phase can be closed."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"starts_at": 5, "ends_at": 4},
            "phase 2 ('final') ends at {ends}, not after it starts ({starts}).",
        ),
        (
            {"starts_at": 1},  # main ends at +3 days
            "phase 2 ('final') starts at {starts}, before phase 1 ('main') ends ({main_ends}): "
            "phases must not overlap.",
        ),
        (
            {"starts_at": 4, "ends_at": 20},
            "phase 2 ('final') ends at {ends}, after the competition closes ({competition_ends}).",
        ),
        (
            {"starts_at": -5},
            "phase 2 ('final') starts at {starts}, before phase 1 ('main') ends ({main_ends}): "
            "phases must not overlap.",
        ),
    ],
)
def test_bad_windows_are_refused_naming_the_phase_and_nothing_is_stored(
    competition, admin_api, body, message
):
    now = timezone.now().replace(microsecond=0)
    main_ends = now + timedelta(days=3)
    Phase.objects.filter(competition=competition).update(ends_at=main_ends)
    sent = {name: iso(now + timedelta(days=days)) for name, days in body.items()}
    answer = admin_api.post(url(competition), {"slug": "final", "title": "Final", **sent}, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "invalid_phases"

    def fmt(value):
        return f"{value:%Y-%m-%d %H:%M} UTC"

    want = message.format(
        starts=fmt(now + timedelta(days=body["starts_at"])),
        ends=fmt(now + timedelta(days=body.get("ends_at", 0))),
        main_ends=fmt(main_ends),
        competition_ends=fmt(competition.ends_at),
    )
    assert want in [p["message"] for p in answer.json()["problems"]]
    assert Phase.objects.filter(competition=competition).count() == 1


def test_an_open_end_before_another_phase_is_refused(competition, admin_api):
    # main leaves its end to its neighbour; a second phase that sets no start leaves it unresolved.
    answer = admin_api.post(url(competition), {"slug": "final", "title": "Final"}, format="json")
    assert answer.status_code == 400
    assert answer.json()["problems"] == [
        {
            "message": "phase 1 ('main') needs an end, or the next phase a start: "
            "only the last phase may have no end.",
            "path": "phases[0].ends_at",
        }
    ]
    assert Phase.objects.filter(competition=competition).count() == 1


def test_a_duplicate_slug_a_frozen_split_and_a_phase_without_entries_kinds(competition, admin_api):
    Phase.objects.filter(competition=competition).update(ends_at=timezone.now() + timedelta(days=3))
    dup = admin_api.post(url(competition), {"slug": "main", "title": "Again"}, format="json")
    assert (
        dup.status_code == 400 and dup.json()["detail"] == "The competition 'cup' already has a phase 'main'."
    )
    frozen = admin_api.patch(url(competition, "main"), {"split_seed": 3}, format="json")
    assert frozen.status_code == 400
    assert frozen.json()["problems"] == [{"message": "'split_seed' cannot change", "path": "split_seed"}]
    none = admin_api.post(
        url(competition),
        {"slug": "final", "title": "Final", "accepts_predictions": False, "accepts_configs": False},
        format="json",
    )
    assert none.status_code == 400
    assert [p["path"] for p in none.json()["problems"]] == ["phases[1].accepts_predictions"]
    unknown = admin_api.post(
        url(competition), {"slug": "final", "title": "F", "dataset": "nope"}, format="json"
    )
    assert unknown.status_code == 400 and unknown.json()["detail"] == "No dataset 'nope'."
    assert Phase.objects.filter(competition=competition).count() == 1


def test_moving_the_competitions_end_before_a_phase_is_refused(competition):
    from podium.competitions import services
    from podium.errors import ApplicationError

    Phase.objects.filter(competition=competition).update(ends_at=timezone.now() + timedelta(days=3))
    services.phase_create(competition=competition, slug="final", title="Final")
    with pytest.raises(ApplicationError) as refused:
        services.competition_update(competition=competition, ends_at=timezone.now() + timedelta(days=2))
    assert any("not after it starts" in p.message for p in refused.value.problems)


def test_a_phase_sets_its_own_largest_sweep_or_inherits_the_competitions(competition, admin_api):
    (main,) = admin_api.get(url(competition)).json()
    assert main["budget"]["max_variants"] == 1  # the competition's default: one model per entry
    changed = admin_api.patch(url(competition, "main"), {"max_variants": 8}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["budget"]["max_variants"] == 8
    cleared = admin_api.patch(url(competition, "main"), {"max_variants": None}, format="json")
    assert cleared.json()["budget"]["max_variants"] == 1
    refused = admin_api.patch(url(competition, "main"), {"max_variants": 0}, format="json")
    assert refused.status_code == 400


def test_a_phase_sets_its_own_lab_quota_or_inherits_the_competitions(competition, admin_api):
    (main,) = admin_api.get(url(competition)).json()
    assert main["budget"]["lab_daily_epochs"] == 1200
    changed = admin_api.patch(url(competition, "main"), {"lab_daily_epochs": 0}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["budget"]["lab_daily_epochs"] == 0
    cleared = admin_api.patch(url(competition, "main"), {"lab_daily_epochs": None}, format="json")
    assert cleared.json()["budget"]["lab_daily_epochs"] == 1200
    assert (
        admin_api.patch(url(competition, "main"), {"lab_daily_epochs": -5}, format="json").status_code == 400
    )

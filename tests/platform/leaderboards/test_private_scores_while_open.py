"""No private score is served while entries are accepted, and a reveal before the deadline
closes the competition first. Both orders (submit then reveal; reveal then submit), through
the API and the pages, as the owner (alice), another participant (bob), an anonymous
visitor and an admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from podium.submissions.models import Submission
from tests.factories.competitions import make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db

# Private scores with digits that appear nowhere else, so a leak shows in any body.
ALICE_PRIVATE, BOB_PRIVATE, LATE_PRIVATE = 0.71234567, 0.61234567, 0.52345678
PERSONAS = ("anon", "alice", "bob", "admin")


@pytest.fixture
def entries(competition, alice, bob):
    make_participations(competition, alice, bob)
    return {
        "alice": make_entry(competition, alice, 0.80, ALICE_PRIVATE),
        "bob": make_entry(competition, bob, 0.90, BOB_PRIVATE),
    }


@pytest.fixture
def clients(anon_api, alice_api, bob_api, admin_api, alice, bob, admin_user):
    """Each persona's API client and page client."""
    pages = {"anon": Client()}
    for name, user in (("alice", alice), ("bob", bob), ("admin", admin_user)):
        pages[name] = Client()
        pages[name].force_login(user)
    api = {"anon": anon_api, "alice": alice_api, "bob": bob_api, "admin": admin_api}
    return {name: (api[name], pages[name]) for name in PERSONAS}


def served(competition, entries, api, page) -> str:
    """Every answer that could carry a private score, as one text."""
    slug = competition.slug
    rows = BoardEntry.objects.filter(competition=competition).values_list("pk", flat=True)
    bodies = [
        api.get(f"/api/competitions/{slug}/leaderboard/"),
        api.get(f"/api/competitions/{slug}/leaderboard/", {"board": "private"}),
        api.get(f"/api/competitions/{slug}/leaderboard/", {"board": "private", "format": "csv"}),
        api.get(f"/api/competitions/{slug}/leaderboard.csv", {"board": "private"}),
        api.get(f"/api/competitions/{slug}/submissions/"),
        *(api.get(f"/api/competitions/{slug}/leaderboard/rows/{pk}/history/") for pk in rows),
        *(api.get(f"/api/submissions/{e.pk}/") for e in entries.values()),
        page.get(f"/c/{slug}/leaderboard/", {"board": "private"}),
        page.get(f"/c/{slug}/submissions/"),
        page.get(f"/c/{slug}/compare/", {"a": entries["alice"].pk, "b": entries["bob"].pk}),
        *(page.get(f"/submissions/{e.pk}/") for e in entries.values()),
    ]
    assert all(b.status_code < 500 for b in bodies)
    return "\n".join(b.content.decode() for b in bodies)


def private_digits(*scores: float) -> list[str]:
    return [f"{s:.8f}"[2:9] for s in scores] + [f"{s:.4f}" for s in scores]


def assert_no_private_score(competition, entries, clients, *scores):
    for name in PERSONAS:
        text = served(competition, entries, *clients[name])
        leaked = [d for d in private_digits(*scores) if d in text]
        assert not leaked, (name, leaked)


def reveal(admin_api, competition, **body):
    return admin_api.post(f"/api/competitions/{competition.slug}/leaderboard/reveal/", body, format="json")


def submit_csv(api, competition):
    upload = SimpleUploadedFile("p.csv", b"id,prediction\n1,0\n", content_type="text/csv")
    return api.post(
        f"/api/competitions/{competition.slug}/submissions/", {"file": upload}, format="multipart"
    )


def test_submit_then_reveal(competition, entries, clients, admin_api, alice_api):
    assert_no_private_score(competition, entries, clients, ALICE_PRIVATE, BOB_PRIVATE)

    refused = reveal(admin_api, competition)
    assert refused.status_code == 409
    assert refused.json()["code"] == "still_open"
    assert (
        "accepts entries until" in refused.json()["detail"] and '{"close": true}' in refused.json()["detail"]
    )
    ends_at = competition.ends_at
    competition.refresh_from_db()
    assert competition.private_revealed_at is None and competition.ends_at == ends_at
    assert reveal(admin_api, competition, close="maybe").status_code == 400  # named, nothing stored
    competition.refresh_from_db()
    assert competition.private_revealed_at is None

    before = timezone.now()
    done = reveal(admin_api, competition, close=True).json()
    assert done["revealed_now"] is True and done["closed_now"] is True
    competition.refresh_from_db()
    assert before <= competition.ends_at == competition.private_revealed_at <= timezone.now()
    assert done["ends_at"] == done["revealed_at"]

    # Closed and revealed: everyone sees the private board; alice's own entry shows its private score.
    for name in PERSONAS:
        text = served(competition, entries, *clients[name])
        assert "1234567" in text, name
    assert alice_api.get(f"/api/submissions/{entries['alice'].pk}/").json()["private_score"] == ALICE_PRIVATE
    # ...and no entry is accepted any more.
    response = submit_csv(alice_api, competition)
    assert response.status_code == 403 and "closed at" in response.json()["detail"]
    assert Submission.objects.filter(competition=competition).count() == 2


def test_reveal_then_submit(competition, entries, clients, admin_api, alice_api, alice):
    reveal(admin_api, competition, close=True)
    response = submit_csv(alice_api, competition)
    assert response.status_code == 403 and "closed at" in response.json()["detail"]
    upload = SimpleUploadedFile("p.csv", b"id,prediction\n1,0\n", content_type="text/csv")
    page = clients["alice"][1].post(f"/c/{competition.slug}/submit/", {"file": upload}, follow=True)
    assert "closed at" in page.content.decode()
    assert Submission.objects.filter(competition=competition).count() == 2

    # A deadline moved later opens the competition again: every private score is hidden again,
    # the new entry's too.
    competition.ends_at = timezone.now() + timedelta(days=1)
    competition.save(update_fields=["ends_at"])
    late = make_entry(competition, alice, 0.85, LATE_PRIVATE)
    assert_no_private_score(competition, {**entries, "late": late}, clients, ALICE_PRIVATE, LATE_PRIVATE)
    assert alice_api.get(f"/api/submissions/{late.pk}/").json()["private_score"] is None


def test_a_reveal_at_the_deadline_closes_nothing(competition, entries, admin_api):
    competition.ends_at = timezone.now() - timedelta(seconds=1)
    competition.save(update_fields=["ends_at"])
    done = reveal(admin_api, competition).json()
    assert done["revealed_now"] is True and done["closed_now"] is False


def test_only_admins_reveal(competition, entries, anon_api, alice_api):
    assert reveal(anon_api, competition, close=True).status_code in (401, 403)
    assert reveal(alice_api, competition, close=True).status_code == 403
    competition.refresh_from_db()
    assert competition.private_revealed_at is None

"""Daily and total limits, per participant and per team, enforced under a row lock."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from podium.submissions.models import Status, Submission
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import predictions_csv

pytestmark = pytest.mark.django_db


def submit(client, competition):
    upload = io.BytesIO(predictions_csv(competition))
    upload.name = "p.csv"
    return client.post(
        f"/api/competitions/{competition.slug}/submissions/", {"file": upload}, format="multipart"
    )


def next_midnight() -> str:
    return (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file() and "submissions" in p.parts]


def test_daily_limit_says_which_limit_and_when_it_resets(alice, alice_api, broker, settings):
    competition = make_competition(slug="daily", daily_limit=2)
    make_participations(competition, alice)
    assert [submit(alice_api, competition).status_code for _ in range(2)] == [201, 201]
    refused = submit(alice_api, competition)
    assert refused.status_code == 429
    body = refused.json()
    assert body["limit"] == "daily" and body["allowed"] == 2 and body["used"] == 2
    assert body["resets_at"] == next_midnight()
    assert "resets at" in body["detail"]
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert Submission.objects.count() == 2
    assert len(stored_files(settings)) == 2  # the refused file was removed again
    limits = alice_api.get(f"/api/competitions/{competition.slug}/submissions/limits/").json()
    assert limits["daily"]["remaining"] == 0 and limits["daily"]["resets_at"] == next_midnight()


def test_failed_and_cancelled_entries_do_not_count(alice, alice_api, broker):
    competition = make_competition(slug="daily", daily_limit=2)
    make_participations(competition, alice)
    first = submit(alice_api, competition).json()
    second = submit(alice_api, competition).json()
    assert submit(alice_api, competition).status_code == 429
    alice_api.post(f"/api/submissions/{first['id']}/cancel/")
    assert submit(alice_api, competition).status_code == 201
    Submission.objects.filter(pk=second["id"]).update(status=Status.FAILED)
    assert submit(alice_api, competition).status_code == 201
    assert submit(alice_api, competition).status_code == 429


def test_yesterdays_entries_do_not_count_today(alice, alice_api, broker):
    competition = make_competition(slug="daily", daily_limit=1)
    make_participations(competition, alice)
    entry = submit(alice_api, competition).json()
    Submission.objects.filter(pk=entry["id"]).update(created_at=timezone.now() - timedelta(days=1))
    assert submit(alice_api, competition).status_code == 201


def test_total_limit(alice, alice_api, broker):
    competition = make_competition(slug="total", daily_limit=10, total_limit=2)
    make_participations(competition, alice)
    assert [submit(alice_api, competition).status_code for _ in range(2)] == [201, 201]
    refused = submit(alice_api, competition)
    assert refused.status_code == 429
    assert refused.json()["limit"] == "total" and refused.json()["resets_at"] is None


def test_a_team_shares_one_count(alice, bob, charlie, alice_api, bob_api, charlie_api, broker):
    from tests.factories.teams import make_team

    competition = make_competition(slug="teams", daily_limit=2)
    make_participations(competition, alice, bob, charlie)
    make_team(competition, alice, bob, name="ab")
    assert submit(alice_api, competition).status_code == 201
    assert submit(bob_api, competition).status_code == 201
    refused = submit(alice_api, competition)
    assert refused.status_code == 429 and refused.json()["scope"] == "team"
    assert submit(charlie_api, competition).status_code == 201  # charlie is on his own
    # Team members see the team's entries.
    assert alice_api.get(f"/api/competitions/{competition.slug}/submissions/").json()["count"] == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_submissions_at_a_limit_of_five(postgres, live_server, alice, broker, settings):
    """Real HTTP through the live server, each request on its own connection: exactly 5 get in."""
    import httpx

    from tests.factories.accounts import make_api_token

    competition = make_competition(slug="race", daily_limit=5)
    make_participations(competition, alice)
    make_api_token(alice, "race-key-0123456789", name="race")
    csv = predictions_csv(competition)
    url = f"{live_server.url}/api/competitions/{competition.slug}/submissions/"
    barrier = threading.Barrier(20)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def fire():
        with httpx.Client(headers={"Authorization": "Token race-key-0123456789"}, timeout=60) as client:
            barrier.wait()
            response = client.post(url, files={"file": ("p.csv", csv, "text/csv")})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=fire) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 5 + [429] * 15, [r.text for r in results if r.status_code not in (201, 429)]
    for refused in (r for r in results if r.status_code == 429):
        body = refused.json()
        assert body["limit"] == "daily" and body["used"] == 5 and body["resets_at"] == next_midnight()
    assert Submission.objects.filter(competition=competition).count() == 5
    assert len(stored_files(settings)) == 5
    assert len(broker.take("scoring")) == 5

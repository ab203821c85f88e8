"""The intake's rate per participant (PODIUM_INTAKE_RATE, a DRF throttle in the cache):
past it a POST is refused with 429, Retry-After and {detail}, and nothing is stored or sent."""

from __future__ import annotations

import io
import time

import pytest

from podium.submissions.models import Submission
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import predictions_csv

pytestmark = pytest.mark.django_db


def submit(client, competition):
    upload = io.BytesIO(predictions_csv(competition))
    upload.name = "p.csv"
    return client.post(
        f"/api/competitions/{competition.slug}/submissions/", {"file": upload}, format="multipart"
    )


def test_entries_past_the_rate_are_refused_until_the_window_passes(
    settings, alice, bob, alice_api, bob_api, broker
):
    settings.PODIUM_INTAKE_RATE = "2/2s"
    competition = make_competition(slug="flood", daily_limit=100)
    make_participations(competition, alice, bob)
    assert [submit(alice_api, competition).status_code for _ in range(2)] == [201, 201]

    refused = submit(alice_api, competition)
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= 2
    assert refused.json() == {
        "detail": f"Too many new entries in a short time. Try again in {wait} second{'s' if wait != 1 else ''}."
    }
    assert Submission.objects.filter(user=alice).count() == 2
    assert len(broker.take("scoring")) == 2

    # Reading one's entries is not throttled, and another participant has a rate of their own.
    assert alice_api.get(f"/api/competitions/{competition.slug}/submissions/").status_code == 200
    assert submit(bob_api, competition).status_code == 201

    time.sleep(2.2)
    assert submit(alice_api, competition).status_code == 201

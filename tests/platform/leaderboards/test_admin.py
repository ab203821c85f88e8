"""The admin action that reveals a private board early: an open competition is closed first,
after a confirmation page that says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/leaderboards/privateboard/"


@pytest.fixture
def admin_client_(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def reveal(client, *competitions, close=()):
    return client.post(
        CHANGELIST,
        {
            "action": "reveal_private_board",
            "_selected_action": [c.pk for c in competitions],
            "close": [c.pk for c in close],
        },
        follow=True,
    )


def test_revealing_an_open_competition_asks_to_close_it_first(admin_client_, alice):
    competition = make_bare_competition()
    ends_at = competition.ends_at
    listing = admin_client_.get(CHANGELIST)
    assert listing.status_code == 200 and competition.slug.encode() in listing.content

    asked = reveal(admin_client_, competition)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "closes its competition first" in page and competition.slug in page
    assert f'name="close" value="{competition.pk}"' in page
    competition.refresh_from_db()
    assert competition.private_revealed_at is None and competition.ends_at == ends_at  # nothing yet

    confirmed = reveal(admin_client_, competition, close=[competition])
    assert confirmed.status_code == 200
    assert f"Closed to entries: {competition.slug}".encode() in confirmed.content
    assert f"Revealed: {competition.slug}".encode() in confirmed.content
    competition.refresh_from_db()
    assert competition.private_revealed_at is not None
    assert competition.ends_at == competition.private_revealed_at <= timezone.now()

    again = reveal(admin_client_, competition)
    assert b"revealed already" in again.content

    participant = Client()
    participant.force_login(alice)
    assert participant.get(CHANGELIST).status_code == 302  # to the admin login


def test_a_past_competition_is_revealed_without_asking_and_an_upcoming_one_is_refused(admin_client_):
    now = timezone.now()
    past = make_bare_competition(starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=1))
    upcoming = make_bare_competition(starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=9))
    response = reveal(admin_client_, past, upcoming)
    body = response.content.decode()
    assert f"Revealed: {past.slug}" in body
    assert f"The competition &#x27;{upcoming.slug}&#x27; has not started" in body
    past.refresh_from_db()
    upcoming.refresh_from_db()
    assert past.private_revealed_at is not None and past.ends_at == now - timedelta(days=1)
    assert upcoming.private_revealed_at is None


def test_the_board_rows_admin_shows_no_private_score(admin_client_, alice):
    competition = make_bare_competition()
    make_participations(competition, alice)
    entry = make_entry(competition, alice, 0.8, 0.71234567)
    listing = admin_client_.get("/admin/leaderboards/boardentry/").content.decode()
    row = BoardEntry.objects.get(submission=entry)
    change = admin_client_.get(f"/admin/leaderboards/boardentry/{row.pk}/change/").content.decode()
    assert "alice" in listing and "alice" in change
    assert "1234567" not in listing and "1234567" not in change

"""The admin action that reveals a private board early."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories.competitions import make_bare_competition

pytestmark = pytest.mark.django_db


def test_admin_action_reveals_the_private_board(admin_user, alice):
    competition = make_bare_competition()
    client = Client()
    client.force_login(admin_user)
    listing = client.get("/admin/leaderboards/privateboard/")
    assert listing.status_code == 200 and competition.slug.encode() in listing.content
    response = client.post(
        "/admin/leaderboards/privateboard/",
        {"action": "reveal_private_board", "_selected_action": [competition.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert f"Revealed: {competition.slug}".encode() in response.content
    competition.refresh_from_db()
    assert competition.private_revealed_at is not None

    participant = Client()
    participant.force_login(alice)
    assert participant.get("/admin/leaderboards/privateboard/").status_code == 302  # to the admin login

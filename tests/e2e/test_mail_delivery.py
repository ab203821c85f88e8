"""A participant hears of their entry by mail: the real scorer scores it, the real maintenance
worker renders the mail and hands it to a real SMTP server."""

from __future__ import annotations

import pytest
from django.utils import timezone

from podium_client.client import PodiumClient
from tests.e2e.helpers import iris_truth, predictions_csv, wait_final
from tests.smtp_server import SmtpServer, body_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


def test_a_scored_entry_reaches_its_author_by_smtp(
    private_redis, make_platform, competition, participant, smtp_server
):
    from podium.mail.models import MailPreferences, SentMail

    user, token = participant
    MailPreferences.objects.create(user=user, verified_email=user.email, verified_at=timezone.now())
    platform = make_platform(
        broker="redis",
        redis=private_redis,
        extra_env={"PODIUM_EMAIL_URL": smtp_server.url, "PODIUM_PUBLIC_URL": "http://podium.example"},
    )
    platform.start_web()
    platform.start_scorer()
    platform.start_maintenance()
    with PodiumClient(platform.url, token, timeout=30) as client:
        entry = client.submit_bytes(
            competition.slug, csv=predictions_csv(iris_truth()), description="all right"
        )
        final = wait_final(client, [entry["id"]], timeout=90, platform=platform)[entry["id"]]
    assert final["status"] == "scored"

    (message,) = smtp_server.wait_for(1, timeout=60)
    assert message["To"] == user.email
    assert (
        message["Subject"]
        == f"Your entry #{entry['id']} to {competition.title} is scored: 1 on the public split"
    )
    assert f"http://podium.example/submissions/{entry['id']}/" in body_of(message)
    assert SentMail.objects.filter(user=user, kind="entry_scored").count() == 1

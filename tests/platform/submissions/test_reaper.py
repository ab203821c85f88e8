"""The reaper: nothing stays queued, running or scoring forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.submissions.models import Kind, Status, Submission
from podium.submissions.services import submission_enqueue, submissions_reap_stale
from tests.factories.submissions import make_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def reap(broker):
    def run(**kwargs):
        broker.purge()  # the intake's own messages are not the reaper's
        return submissions_reap_stale(**kwargs)

    return run


def config_entry(competition, user, **fields):
    entry = make_submission(competition, user, kind=Kind.CONFIG, config={"version": 1})
    submission_enqueue(submission=entry)
    Submission.objects.filter(pk=entry.pk).update(**fields)
    entry.refresh_from_db()
    return entry


def test_silent_worker_is_requeued_with_a_fresh_attempt_then_failed(
    competition, alice, broker, reap, settings
):
    settings.PODIUM_MAX_ATTEMPTS = 3
    long_ago = timezone.now() - settings.PODIUM_HEARTBEAT_TIMEOUT - timedelta(seconds=1)
    entry = config_entry(competition, alice, status=Status.RUNNING, heartbeat_at=long_ago)
    tokens = set()
    for attempt in (2, 3):
        assert reap() == {"requeued": 1, "failed": 0, "rescored": 0}
        ((_, (sid, sent_attempt, token)),) = broker.take("gpu")
        assert (sid, sent_attempt) == (entry.pk, attempt)
        tokens.add(token)
        entry.refresh_from_db()
        assert entry.status == Status.QUEUED and entry.attempt == attempt
        Submission.objects.filter(pk=entry.pk).update(status=Status.RUNNING, heartbeat_at=long_ago)
    assert len(tokens) == 2
    assert reap() == {"requeued": 0, "failed": 1, "rescored": 0}
    entry.refresh_from_db()
    assert entry.status == Status.FAILED and entry.finished_at
    assert entry.error_message == "The training worker stopped responding 3 times; giving up."
    assert broker.take("gpu") == []


def test_live_and_fresh_entries_are_left_alone(competition, alice, broker, reap):
    config_entry(competition, alice, status=Status.RUNNING, heartbeat_at=timezone.now())
    config_entry(competition, alice)  # just queued
    config_entry(competition, alice, status=Status.SCORED)
    assert reap() == {"requeued": 0, "failed": 0, "rescored": 0}


def test_lost_queued_message_is_sent_again(competition, alice, broker, reap, settings):
    entry = config_entry(
        competition, alice, queued_at=timezone.now() - settings.PODIUM_QUEUED_TIMEOUT - timedelta(seconds=1)
    )
    assert reap()["requeued"] == 1
    ((_, (sid, attempt, _token)),) = broker.take("gpu")
    assert (sid, attempt) == (entry.pk, 2)


def test_stuck_scoring_is_sent_to_the_scorer_again_then_failed(competition, alice, broker, reap, settings):
    settings.PODIUM_MAX_ATTEMPTS = 2
    entry = make_submission(competition, alice)
    submission_enqueue(submission=entry)
    stale = timezone.now() - settings.PODIUM_HEARTBEAT_TIMEOUT - timedelta(seconds=1)
    for _ in range(2):
        Submission.objects.filter(pk=entry.pk).update(heartbeat_at=stale)
        assert reap()["rescored"] == 1
        assert broker.take("scoring") == [("podium.submissions.tasks.score_submission", [entry.pk, 1])]
    Submission.objects.filter(pk=entry.pk).update(heartbeat_at=stale)
    assert reap()["failed"] == 1
    entry.refresh_from_db()
    assert entry.status == Status.FAILED and "Scoring did not complete" in entry.error_message


def test_reap_task_runs_the_service(competition, alice, settings):
    from podium.celery import app

    app.loader.import_default_modules()
    task = app.tasks["podium.submissions.tasks.reap_stale"]
    assert task.run() == {"requeued": 0, "failed": 0, "rescored": 0}

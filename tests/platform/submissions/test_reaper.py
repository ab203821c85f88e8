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
    entry = config_entry(competition, alice)
    assert [args[:2] for _, args in broker.take("gpu")] == [[entry.pk, 1]]  # released, then lost
    Submission.objects.filter(pk=entry.pk).update(
        released_at=timezone.now() - settings.PODIUM_QUEUED_TIMEOUT - timedelta(seconds=1)
    )
    assert reap()["requeued"] == 1
    ((_, (sid, attempt, _token)),) = broker.take("gpu")
    assert (sid, attempt) == (entry.pk, 2)
    entry.refresh_from_db()
    assert entry.status == Status.QUEUED and entry.released_at is not None  # released again at once


def test_an_entry_waiting_its_turn_is_never_reaped(competition, alice, bob, broker, reap, settings):
    """Only a released entry that no worker claimed is lost; one that waits in the fair queue
    behind a full window waits, however long."""
    settings.PODIUM_DISPATCH_WINDOW = 1
    long_ago = timezone.now() - settings.PODIUM_QUEUED_TIMEOUT * 10
    first = config_entry(competition, alice)
    waiting = config_entry(competition, bob)
    assert [args[:2] for _, args in broker.take("gpu")] == [[first.pk, 1]]
    Submission.objects.filter(pk=waiting.pk).update(queued_at=long_ago, created_at=long_ago)
    Submission.objects.filter(pk=first.pk).update(status=Status.RUNNING, heartbeat_at=timezone.now())
    assert reap() == {"requeued": 0, "failed": 0, "rescored": 0}
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempt, waiting.released_at) == (Status.QUEUED, 1, None)


def test_a_released_entry_not_claimed_frees_its_place_then_fails(
    competition, alice, bob, broker, reap, settings
):
    """Past the attempts cap the unclaimed entry fails, and the entry waiting behind it is released."""
    settings.PODIUM_DISPATCH_WINDOW = 1
    settings.PODIUM_MAX_ATTEMPTS = 1
    lost = config_entry(competition, alice)
    waiting = config_entry(competition, bob)
    assert [args[:2] for _, args in broker.take("gpu")] == [[lost.pk, 1]]
    Submission.objects.filter(pk=lost.pk).update(
        released_at=timezone.now() - settings.PODIUM_QUEUED_TIMEOUT - timedelta(seconds=1)
    )
    assert reap()["failed"] == 1  # the probe plays the release the failure asked for
    lost.refresh_from_db()
    assert lost.status == Status.FAILED
    assert lost.error_message == "No training worker picked the entry up after 1 tries; giving up."
    assert [args[:2] for _, args in broker.take("gpu")] == [[waiting.pk, 1]]


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

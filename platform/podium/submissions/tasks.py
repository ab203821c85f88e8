"""Thin Celery tasks of the web tier: each calls one service."""

from __future__ import annotations

from celery import shared_task

from common.protocol import REAP_TASK, RELEASE_TASK, SCORE_TASK
from podium.submissions import queue, services


@shared_task(name=SCORE_TASK, acks_late=True, reject_on_worker_lost=True)
def score_submission(submission_id: int, attempt: int) -> str | None:
    submission = services.submission_score(submission_id=submission_id, attempt=attempt)
    return submission.status if submission is not None else None


@shared_task(name=REAP_TASK, ignore_result=True)
def reap_stale() -> dict:
    return services.submissions_reap_stale()


@shared_task(name=RELEASE_TASK, ignore_result=True)
def release_waiting() -> int:
    """The fair queue's safety net: a place freed while no release ran (a process died between
    a claim and its release, a send failed) is filled within one beat interval."""
    queue.training_capacity_refresh()
    return len(queue.submissions_release())

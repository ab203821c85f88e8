"""Celery tasks of the compute tier, sent by name from the web tier (docs/architecture.md).

The task is thin: the runner does the work and reports every outcome to the
platform itself, so the task never fails in Celery's eyes for a training error
(that would only log a traceback nobody reads); the entry shows the reason.
"""

from __future__ import annotations

import logging

from common.protocol import TRAIN_TASK
from workers.celery_app import app
from workers.runner import run_submission

log = logging.getLogger(__name__)


@app.task(name=TRAIN_TASK, ignore_result=True)
def train_submission(submission_id: int, attempt: int, token: str) -> str:
    outcome = run_submission(int(submission_id), int(attempt), token)
    log.info("submission %s attempt %s: %s", submission_id, attempt, outcome)
    return outcome

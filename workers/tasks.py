"""Celery tasks of the compute tier, sent by name from the web tier (docs/architecture.md).

The tasks are thin: the runner does the work and reports every outcome to the
platform itself, so a task never fails in Celery's eyes for a training error
(that would only log a traceback nobody reads); the entry or the lab run shows the reason.
"""

from __future__ import annotations

import logging

from common.protocol import LAB_TASK, TRAIN_TASK
from workers.celery_app import app
from workers.runner import run_lab_run, run_submission

log = logging.getLogger(__name__)


@app.task(name=TRAIN_TASK, ignore_result=True)
def train_submission(submission_id: int, attempt: int, token: str) -> str:
    outcome = run_submission(int(submission_id), int(attempt), token)
    log.info("submission %s attempt %s: %s", submission_id, attempt, outcome)
    return outcome


@app.task(name=LAB_TASK, ignore_result=True)
def train_lab_run(run_id: int, attempt: int, token: str) -> str:
    outcome = run_lab_run(int(run_id), int(attempt), token)
    log.info("lab run %s attempt %s: %s", run_id, attempt, outcome)
    return outcome

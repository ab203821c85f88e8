"""Sending a lab run's training message: its id, attempt and token only (no data, no labels),
on the queue an entry trains on, by name (the web tier never imports the workers)."""

from __future__ import annotations

import logging

from django.conf import settings

from common.protocol import LAB_TASK
from podium.lab.tokens import lab_token_make

log = logging.getLogger(__name__)


def send_lab_run(run_id: int, attempt: int) -> None:
    from podium.celery import app

    token = lab_token_make(run_id=run_id, attempt=attempt)
    app.send_task(LAB_TASK, args=[run_id, attempt, token], queue=settings.PODIUM_TRAIN_QUEUE)
    log.debug("sent %s for lab run %s attempt %s", LAB_TASK, run_id, attempt)

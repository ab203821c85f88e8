"""Sending task messages. Only ids, the attempt and its token travel: no data, no labels.

A worker never sees an id whose row is not committed yet: the scorer's and the mails'
messages go through transaction.on_commit, and a training message is sent by the fair
queue (podium.submissions.queue) for an entry committed in an earlier transaction.
"""

from __future__ import annotations

import logging

from django.conf import settings

from common.protocol import ENTRY_MAIL_TASK, MAINTENANCE_QUEUE, REVEAL_MAIL_TASK, SCORE_TASK, TRAIN_TASK
from podium.submissions.tokens import worker_token_make

log = logging.getLogger(__name__)


def send_train(submission_id: int, attempt: int) -> None:
    from podium.celery import app

    token = worker_token_make(submission_id=submission_id, attempt=attempt)
    app.send_task(TRAIN_TASK, args=[submission_id, attempt, token], queue=settings.PODIUM_TRAIN_QUEUE)
    log.debug("sent %s for submission %s attempt %s", TRAIN_TASK, submission_id, attempt)


def send_score(submission_id: int, attempt: int) -> None:
    from podium.celery import app

    app.send_task(SCORE_TASK, args=[submission_id, attempt], queue=settings.PODIUM_SCORING_QUEUE)
    log.debug("sent %s for submission %s attempt %s", SCORE_TASK, submission_id, attempt)


# The mails an entry's end and a board's reveal cause, sent by name as training is (the mail
# app sits above the entries and the boards), to the maintenance worker: a slow SMTP server
# never holds up the scorer.


def send_entry_mail(submission_id: int) -> None:
    from podium.celery import app

    app.send_task(ENTRY_MAIL_TASK, args=[submission_id], queue=MAINTENANCE_QUEUE)


def send_reveal_mail(competition_id: int) -> None:
    from podium.celery import app

    app.send_task(REVEAL_MAIL_TASK, args=[competition_id], queue=MAINTENANCE_QUEUE)

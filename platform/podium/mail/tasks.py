"""Thin tasks over podium.mail.services, run by the maintenance worker. An SMTP failure
retries with a growing pause; the SentMail claim keeps a retried mail from going twice."""

from __future__ import annotations

import smtplib

from celery import shared_task

from common.protocol import CLOSING_MAIL_TASK, ENTRY_MAIL_TASK, REVEAL_MAIL_TASK, VERIFY_MAIL_TASK
from podium.mail import services

RETRY = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "max_retries": 8,
}


@shared_task(name=ENTRY_MAIL_TASK, **RETRY)
def mail_entry_result(submission_id: int) -> bool:
    return services.mail_entry_result(submission_id=submission_id)


@shared_task(name=REVEAL_MAIL_TASK, **RETRY)
def mail_reveal(competition_id: int) -> int:
    return services.mail_reveal(competition_id=competition_id)


@shared_task(name=VERIFY_MAIL_TASK, **RETRY)
def mail_verification(user_id: int) -> bool:
    return services.mail_verification_send(user_id=user_id)


@shared_task(name=CLOSING_MAIL_TASK, **RETRY)
def mail_closing_reminders() -> int:
    return services.mail_closing_reminders()

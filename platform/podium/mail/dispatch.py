"""Sending the mail app's own task messages, by name (the tasks module imports the services)."""

from __future__ import annotations

from common.protocol import MAINTENANCE_QUEUE, VERIFY_MAIL_TASK


def send_verification_mail(user_id: int) -> None:
    from podium.celery import app

    app.send_task(VERIFY_MAIL_TASK, args=[user_id], queue=MAINTENANCE_QUEUE)

"""Thin Celery tasks of the boards; the beat schedule lives in podium.celery."""

from __future__ import annotations

from celery import shared_task

from common.protocol import REVEAL_TASK
from podium.leaderboards.services import boards_reveal_due


@shared_task(name=REVEAL_TASK)
def reveal_due() -> list[str]:
    """Reveal the private board of every competition whose deadline has passed."""
    return boards_reveal_due()

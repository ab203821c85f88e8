"""Thin Celery tasks of the lab: each calls one service."""

from __future__ import annotations

from celery import shared_task

from common.protocol import LAB_REAP_TASK
from podium.lab import services


@shared_task(name=LAB_REAP_TASK, ignore_result=True)
def reap_stale_runs() -> dict:
    return services.lab_runs_reap_stale()

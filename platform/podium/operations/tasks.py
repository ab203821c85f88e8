"""Thin Celery tasks of the hosts' operations: each calls one service."""

from __future__ import annotations

from celery import shared_task

from common.protocol import RESCORE_RESUME_TASK, RESCORE_TASK
from podium.operations import rescore


@shared_task(name=RESCORE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def rescore_advance(job_id: int) -> None:
    rescore.rescore_advance(job_id=job_id)


@shared_task(name=RESCORE_RESUME_TASK, ignore_result=True)
def rescores_resume_stale() -> list[int]:
    return rescore.rescores_resume_stale()

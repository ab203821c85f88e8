"""The web tier's Celery app: the scorer, the maintenance worker and beat run it; the web server sends with it.

Beat's periodic tasks go to their own queue (MAINTENANCE_QUEUE), consumed by a
lightweight worker of their own: the reaper exists to rescue entries a dead scorer
left behind, so it must never wait in the scorer's queue.

Training tasks live in the Django-free compute tier (workers.tasks) and are sent
by name, so the web tier never imports torch.
"""

import os

from celery import Celery
from celery.signals import beat_init, worker_init
from kombu import Exchange, Queue

from common.broker import BrokerConfigError, check_time_limit, make_folders
from common.protocol import (
    CLOSING_MAIL_TASK,
    CPU_QUEUE,
    GPU_QUEUE,
    LAB_REAP_TASK,
    LAB_TASK,
    MAINTENANCE_QUEUE,
    REAP_TASK,
    RELEASE_TASK,
    RESCORE_RESUME_TASK,
    REVEAL_TASK,
    TRAIN_TASK,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

app = Celery("podium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _queues():
    from django.conf import settings

    # Exchange and routing key named after the queue, as workers.celery_app declares them:
    # a bare Queue("gpu") would take the default exchange and key ("scoring") and route
    # training messages into the scoring queue.
    return tuple(
        Queue(name, Exchange(name), routing_key=name)
        for name in (settings.PODIUM_SCORING_QUEUE, MAINTENANCE_QUEUE, GPU_QUEUE, CPU_QUEUE)
    )


def _beat_schedule():
    from django.conf import settings

    return {
        "submissions-reap-stale": {
            "task": REAP_TASK,
            "schedule": float(settings.PODIUM_REAPER_INTERVAL_S),
            "options": {"queue": MAINTENANCE_QUEUE, "expires": float(settings.PODIUM_REAPER_INTERVAL_S)},
        },
        "submissions-release-waiting": {
            "task": RELEASE_TASK,
            "schedule": float(settings.PODIUM_REAPER_INTERVAL_S),
            "options": {"queue": MAINTENANCE_QUEUE, "expires": float(settings.PODIUM_REAPER_INTERVAL_S)},
        },
        "lab-reap-stale-runs": {
            "task": LAB_REAP_TASK,
            "schedule": float(settings.PODIUM_REAPER_INTERVAL_S),
            "options": {"queue": MAINTENANCE_QUEUE, "expires": float(settings.PODIUM_REAPER_INTERVAL_S)},
        },
        "mail-closing-reminders": {
            "task": CLOSING_MAIL_TASK,
            "schedule": 900.0,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": 900.0},
        },
        "operations-rescores-resume-stale": {
            "task": RESCORE_RESUME_TASK,
            "schedule": float(settings.PODIUM_REAPER_INTERVAL_S),
            "options": {"queue": MAINTENANCE_QUEUE, "expires": float(settings.PODIUM_REAPER_INTERVAL_S)},
        },
        "leaderboards-reveal-due": {
            "task": REVEAL_TASK,
            "schedule": 60.0,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": 60.0},
        },
    }


@app.on_after_configure.connect
def _configure(sender, **kwargs):
    from django.conf import settings

    sender.conf.task_queues = _queues()
    make_folders(sender.conf.broker_transport_options or {})
    sender.conf.task_routes = {
        # Exact names are matched before the patterns below.
        REAP_TASK: {"queue": MAINTENANCE_QUEUE},
        RELEASE_TASK: {"queue": MAINTENANCE_QUEUE},
        REVEAL_TASK: {"queue": MAINTENANCE_QUEUE},
        "podium.mail.tasks.*": {"queue": MAINTENANCE_QUEUE},
        RESCORE_RESUME_TASK: {"queue": MAINTENANCE_QUEUE},
        LAB_REAP_TASK: {"queue": MAINTENANCE_QUEUE},
        "podium.submissions.tasks.*": {"queue": settings.PODIUM_SCORING_QUEUE},
        "podium.leaderboards.tasks.*": {"queue": settings.PODIUM_SCORING_QUEUE},
        "podium.operations.tasks.*": {"queue": settings.PODIUM_SCORING_QUEUE},
        TRAIN_TASK: {"queue": settings.PODIUM_TRAIN_QUEUE},
        LAB_TASK: {"queue": settings.PODIUM_TRAIN_QUEUE},
    }
    sender.conf.beat_schedule = {**(settings.CELERY_BEAT_SCHEDULE or {}), **_beat_schedule()}


def _refuse_to_start(conf) -> None:
    # Celery logs and swallows an Exception from a signal handler; SystemExit does stop start-up.
    try:
        check_time_limit(str(conf.broker_url or ""), conf.broker_transport_options, conf.task_time_limit)
    except BrokerConfigError as exc:
        raise SystemExit(f"podium: refusing to start: {exc}") from None


@worker_init.connect
def _check_on_worker_start(sender=None, **kwargs):
    _refuse_to_start((sender.app if sender is not None else app).conf)


@worker_init.connect
def _import_scoring_on_worker_start(**kwargs):
    # Before the pool forks: its processes inherit pandas and the validator, and the first
    # entry scored after a start does not wait ~0.2 s for their import.
    import datasets.scoring  # noqa: F401


@beat_init.connect
def _check_on_beat_start(sender=None, **kwargs):
    _refuse_to_start(app.conf)

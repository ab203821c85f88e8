"""The web tier's Celery app: the scorer and beat run it; the web server sends with it.

Training tasks live in the Django-free compute tier (workers.tasks) and are sent
by name, so the web tier never imports torch.
"""

import os

from celery import Celery
from celery.signals import beat_init, worker_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

app = Celery("podium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TimeLimitConfigError(RuntimeError):
    pass


def check_time_limit_below_visibility(conf) -> None:
    """A task that can outlive the broker's visibility timeout is delivered twice.

    Redis hands an unacknowledged message to another worker after the visibility
    timeout; with acks_late a long task would then run twice. So every hard time
    limit must stay below it. Transports without the notion (filesystem, AMQP) pass.
    """
    url = str(conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "sentinel://", "sqs://")):
        return
    visibility = (conf.broker_transport_options or {}).get("visibility_timeout", 3600)
    limit = conf.task_time_limit
    if limit is None:
        raise TimeLimitConfigError(
            f"CELERY_TASK_TIME_LIMIT is not set; it must be below the broker visibility timeout ({visibility} s), "
            "or a long task would be delivered twice."
        )
    if limit >= visibility:
        raise TimeLimitConfigError(
            f"CELERY_TASK_TIME_LIMIT ({limit} s) must be below the broker visibility timeout ({visibility} s): "
            "lower PODIUM_TASK_TIME_LIMIT or raise PODIUM_VISIBILITY_TIMEOUT."
        )


def _queues():
    from django.conf import settings

    # Exchange and routing key named after the queue, as workers.celery_app declares them:
    # a bare Queue("gpu") would take the default exchange and key ("scoring") and route
    # training messages into the scoring queue.
    return tuple(
        Queue(name, Exchange(name), routing_key=name)
        for name in (settings.PODIUM_SCORING_QUEUE, "gpu", "cpu")
    )


def _beat_schedule():
    from django.conf import settings

    return {
        "submissions-reap-stale": {
            "task": "podium.submissions.tasks.reap_stale",
            "schedule": float(settings.PODIUM_REAPER_INTERVAL_S),
            "options": {
                "queue": settings.PODIUM_SCORING_QUEUE,
                "expires": float(settings.PODIUM_REAPER_INTERVAL_S),
            },
        },
        "leaderboards-reveal-due": {
            "task": "podium.leaderboards.tasks.reveal_due",
            "schedule": 60.0,
            "options": {"queue": settings.PODIUM_SCORING_QUEUE, "expires": 60.0},
        },
    }


@app.on_after_configure.connect
def _configure(sender, **kwargs):
    from django.conf import settings

    sender.conf.task_queues = _queues()
    # The filesystem transport fails on a missing folder; whichever process starts first makes them.
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        folder = (sender.conf.broker_transport_options or {}).get(key)
        if folder:
            os.makedirs(folder, exist_ok=True)
    sender.conf.task_routes = {
        "podium.submissions.tasks.*": {"queue": settings.PODIUM_SCORING_QUEUE},
        "podium.leaderboards.tasks.*": {"queue": settings.PODIUM_SCORING_QUEUE},
        "workers.tasks.train_submission": {"queue": settings.PODIUM_TRAIN_QUEUE},
    }
    sender.conf.beat_schedule = {**(settings.CELERY_BEAT_SCHEDULE or {}), **_beat_schedule()}


def _refuse_to_start(conf) -> None:
    # Celery logs and swallows an Exception from a signal handler; SystemExit does stop start-up.
    try:
        check_time_limit_below_visibility(conf)
    except TimeLimitConfigError as exc:
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

"""The compute tier's Celery app: Django-free, consumes the `gpu` and `cpu` queues.

    celery -A workers.celery_app worker -Q gpu,cpu -c 1

The broker comes from CELERY_BROKER_URL; without it, kombu's filesystem
transport in the same folders as the web tier (PODIUM_VAR_DIR/broker), so
`make run` needs no server. Settings that matter for not losing work:

- acks late + reject on worker lost: a message is acknowledged after the task
  ran, and a worker killed mid-task hands it back to the broker;
- prefetch 1: a busy worker holds no message another one could run;
- a hard time limit below the broker's visibility timeout, checked when the
  worker starts: otherwise Redis would hand a still-running task to a second
  worker.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_init
from kombu import Exchange, Queue

ROOT = Path(__file__).resolve().parent.parent


class WorkerConfigError(RuntimeError):
    """A setting of the worker is wrong; the message names the variable."""


def _env_int(name: str, default: int, *, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WorkerConfigError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise WorkerConfigError(f"environment variable {name}={value} must be >= {minimum}")
    return value


def var_dir() -> Path:
    return Path(os.environ.get("PODIUM_VAR_DIR") or ROOT / "var")


def broker_config() -> tuple[str, dict]:
    """The broker URL and transport options, matching platform/podium/settings.py."""
    url = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
    if url.startswith("filesystem://"):
        broker = var_dir() / "broker"
        queue, processed = broker / "queue", broker / "processed"
        queue.mkdir(parents=True, exist_ok=True)
        processed.mkdir(parents=True, exist_ok=True)
        return url, {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "store_processed": False,
            # Exchange bindings; kombu's default is ./control in the working directory.
            "control_folder": str(broker / "control"),
        }
    return url, {"visibility_timeout": _env_int("PODIUM_VISIBILITY_TIMEOUT", 3600, minimum=60)}


def make_app() -> Celery:
    url, transport_options = broker_config()
    time_limit = _env_int("PODIUM_TASK_TIME_LIMIT", 1800, minimum=10)
    app = Celery("podium-workers", broker=url, include=["workers.tasks"])
    app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=time_limit,
        # The soft limit lets the runner post a readable failure before the hard kill.
        task_soft_time_limit=max(5, time_limit - 15),
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_default_queue="gpu",
        # Exchange and routing key equal to the queue name: what the web tier's app creates
        # when it sends to a queue by name, so the two tiers' bindings agree.
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in ("gpu", "cpu")],
        task_routes={"workers.tasks.train_submission": {"queue": "gpu"}},
        worker_hijack_root_logger=False,
        # A training process that has run many tasks holds fragmented CUDA/CPU memory.
        worker_max_tasks_per_child=_env_int("PODIUM_WORKER_MAX_TASKS_PER_CHILD", 50),
    )
    return app


def check_time_limits(conf) -> None:
    """Refuse to start when a task could outlive the broker's visibility timeout."""
    options = conf.broker_transport_options or {}
    visibility = options.get("visibility_timeout")
    if visibility is None:
        return  # the filesystem transport never redelivers by timeout
    hard = conf.task_time_limit
    if hard is None or hard >= visibility:
        raise WorkerConfigError(
            f"the hard task time limit (PODIUM_TASK_TIME_LIMIT={hard}) must be below the broker's visibility "
            f"timeout (PODIUM_VISIBILITY_TIMEOUT={visibility}); otherwise the broker hands a running "
            "task to a second worker"
        )


app = make_app()


@worker_init.connect
def _check_on_start(sender=None, **_):
    # Celery logs and swallows a receiver's exception; SystemExit is what really stops the start.
    try:
        check_time_limits(app.conf)
    except WorkerConfigError as exc:
        raise SystemExit(f"podium worker refuses to start: {exc}") from None

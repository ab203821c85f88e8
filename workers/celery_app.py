"""The compute tier's Celery app: Django-free, consumes the `gpu` and `cpu` queues.

    celery -A workers.celery_app worker -Q gpu,cpu

One long-lived process per device: Celery's threads pool with PODIUM_WORKER_MAX_IN_FLIGHT
threads, each holding one entry (claim, data, HTTP) while the process's device pool trains
them, packed where they can be (`workers.device_pool`; docs/architecture.md, "Packed
training"). Torch, the trainer and the device are made ready when the worker starts, not on
its first entry.

The broker and its options come from `common.broker`, as the web tier's do: without
CELERY_BROKER_URL, the filesystem transport of common.transports in the same folders as the web tier
(PODIUM_VAR_DIR/broker), so `make run` needs no server. Settings that matter for not
losing work:

- acks late + reject on worker lost: a message is acknowledged after the task
  ran, and a worker killed mid-task hands it back to the broker;
- prefetch 1 per thread: the process holds no more messages than it has entries in flight;
- a hard time limit below the broker's visibility timeout, checked when the
  worker starts: otherwise Redis would hand a still-running task to a second
  worker. The threads pool enforces no time limit, so the runner stops an attempt itself
  at the soft limit (`workers.runner.soft_time_limit`).
"""

from __future__ import annotations

from pathlib import Path

from celery import Celery
from celery.signals import worker_init, worker_ready
from celery.worker.control import inspect_command
from kombu import Exchange, Queue

from common.broker import (
    BrokerConfigError,
    broker_transport,
    broker_url,
    check_time_limit,
    make_folders,
    task_time_limit,
    transport_options,
)
from common.env import env_int, env_str
from common.protocol import DEVICE_STATS_COMMAND, GPU_QUEUE, TRAIN_QUEUES, TRAIN_TASK
from workers.device_pool import PoolSettings

ROOT = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    return Path(env_str("PODIUM_VAR_DIR", "") or ROOT / "var")


def make_app() -> Celery:
    url = broker_url()
    options = transport_options(url, var_dir())
    make_folders(options)
    time_limit = task_time_limit()
    app = Celery("podium-workers", broker=url, include=["workers.tasks"])
    app.conf.update(
        broker_transport=broker_transport(url),
        broker_transport_options=options,
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
        task_default_queue=GPU_QUEUE,
        # Exchange and routing key equal to the queue name: what the web tier's app creates
        # when it sends to a queue by name, so the two tiers' bindings agree.
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in TRAIN_QUEUES],
        task_routes={TRAIN_TASK: {"queue": GPU_QUEUE}},
        worker_hijack_root_logger=False,
        # Threads in one process share its device pool: entries in flight train together.
        worker_pool="threads",
        worker_concurrency=PoolSettings.from_env().max_in_flight,
        # With `-P prefork` (one entry per child): a child that ran many tasks holds fragmented memory.
        worker_max_tasks_per_child=env_int("PODIUM_WORKER_MAX_TASKS_PER_CHILD", 50, minimum=1),
    )
    return app


app = make_app()


@worker_init.connect
def _check_on_start(sender=None, **_):
    # Celery logs and swallows a receiver's exception; SystemExit is what really stops the start.
    try:
        check_time_limit(app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_time_limit)
    except BrokerConfigError as exc:
        raise SystemExit(f"podium worker refuses to start: {exc}") from None


@worker_ready.connect
def _warm_the_device(sender=None, **_):
    """Import torch and the trainer and make the device's pool now, so that the first entry
    waits for neither; in the process that trains (not a prefork parent about to fork)."""
    if type(getattr(sender, "pool", None)).__module__.rsplit(".", 1)[-1] not in ("thread", "solo"):
        return
    from workers import training  # noqa: F401 - the import is the warm-up
    from workers.device_pool import deterministic_for_the_process, pool_for
    from workers.runner import RunnerSettings, pick_device

    device = pick_device(RunnerSettings.from_env().device)
    deterministic_for_the_process(device)
    pool_for(device)


@inspect_command(name=DEVICE_STATS_COMMAND)
def _device_stats(state):
    """`celery inspect podium_devices`: a list of `common.protocol.DeviceStats`, one per device
    this process trains on (the status page asks for it)."""
    from workers.device_pool import pools

    return [pool.stats() for pool in pools()]

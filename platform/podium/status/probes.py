"""Probes of the services the web tier depends on: the database, the broker, its workers and
the trainers' devices.

Each probe is bounded in time (a status page must answer while a service is down) and says
what it found rather than raising.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from kombu import Connection

from common.protocol import CPU_QUEUE, DEVICE_STATS_COMMAND, GPU_QUEUE, MAINTENANCE_QUEUE, TRAIN_QUEUES

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0
INSPECT_TIMEOUT_S = 1.0


def queues() -> tuple[str, ...]:
    """The queues of the platform, the scorer's first."""
    return (settings.PODIUM_SCORING_QUEUE, GPU_QUEUE, CPU_QUEUE, MAINTENANCE_QUEUE)


def database_problem() -> str | None:
    """None when a query answers; else what went wrong."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def _broker_connection() -> Connection:
    # A connection of its own from the Celery app's broker settings (not the app's pool):
    # bounded by a short connect timeout and one try, so a dead broker answers in seconds.
    from podium.celery import app

    conf = app.conf
    return Connection(
        conf.broker_url,
        transport=conf.broker_transport,
        transport_options={**(conf.broker_transport_options or {}), "socket_timeout": BROKER_TIMEOUT_S},
        connect_timeout=BROKER_TIMEOUT_S,
    )


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue; raises when the broker cannot be reached."""
    with _broker_connection() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        channel = conn.default_channel
        # `_size` is kombu's per-transport count (LLEN on Redis, files on the filesystem):
        # a passive queue_declare would refuse a queue that is empty on Redis (no key).
        return {name: int(channel._size(name)) for name in queues()}


def broker_problem() -> str | None:
    """None when the broker answers a read; else what went wrong."""
    try:
        queue_depths()
    except (TimeoutError, OSError, Exception) as exc:  # kombu wraps transport errors variously
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def workers_by_queue() -> dict[str, list[str]] | None:
    """The Celery workers answering now, by the queue they consume; None when the broker
    cannot broadcast (the filesystem broker of one machine has no remote control)."""
    from podium.celery import app

    try:
        answers = app.control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues() or {}
    except Exception as exc:  # no broadcast on this transport, or the broker is down
        log.info("worker inspection unavailable: %s", exc)
        return None
    found: dict[str, list[str]] = {name: [] for name in queues()}
    for node, consumed in answers.items():
        for queue in consumed or []:
            found.setdefault(queue.get("name", "?"), []).append(node)
    return {name: sorted(nodes) for name, nodes in found.items()}


def train_nodes(workers: dict[str, list[str]]) -> list[str]:
    """The workers consuming a training queue, from `workers_by_queue()`."""
    return sorted({node for queue in TRAIN_QUEUES for node in workers.get(queue, [])})


def device_stats(nodes: list[str]) -> dict[str, list[dict]] | None:
    """Each trainer's devices (`common.protocol.DeviceStats`, from the trainer's own inspect
    command), by node; None when the broker cannot broadcast. Asks only `nodes` and stops
    waiting once all of them answered."""
    from podium.celery import app

    if not nodes:
        return {}
    try:
        answers = app.control.broadcast(
            DEVICE_STATS_COMMAND,
            destination=nodes,
            reply=True,
            timeout=INSPECT_TIMEOUT_S,
            limit=len(nodes),
        )
    except Exception as exc:  # no broadcast on this transport, or the broker is down
        log.info("device inspection unavailable: %s", exc)
        return None
    found: dict[str, list[dict]] = {}
    for answer in answers or []:
        for node, devices in answer.items():
            # A worker that does not know the command answers {"error": …}: it has no devices to show.
            if isinstance(devices, list):
                found[node] = [d for d in devices if isinstance(d, dict)]
    return found

"""The platform's status as anyone may see it: no entry, user or score is named in it."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from podium.status import probes
from podium.submissions.models import Status, Submission

STATUS_CACHE_KEY = "podium:status"
WINDOW = timedelta(hours=1)
FAILURE_WINDOW = timedelta(hours=24)
MAX_SAMPLES = 10_000  # the last hour's entries, newest first; a median of more says no more
MAX_REASONS = 5
NO_FIGURES = {"in_flight": None, "last_hour": None, "failures_last_24h": []}  # the database is down


def failure_reason(message: str) -> str:
    """A failure message reduced to its kind: the first clause, numbers and quoted values
    replaced, so that "diverged … at epoch 3" and "… at epoch 7" count as one reason and no
    participant's value (a path, a label) reaches a public page."""
    head = re.split(r"[:;.(]", (message or "").strip(), maxsplit=1)[0]
    head = re.sub(r"'[^']*'|\"[^\"]*\"", "…", head)
    head = re.sub(r"\d+(\.\d+)?", "N", head)
    return head.strip()[:80] or "no reason given"


def _median_seconds(pairs) -> float | None:
    durations = [(end - start).total_seconds() for start, end in pairs if start and end and end >= start]
    return round(statistics.median(durations), 1) if durations else None


def entry_figures(*, now: datetime) -> dict:
    since = now - WINDOW
    in_flight = Counter(
        Submission.objects.filter(status__in=(Status.QUEUED, Status.RUNNING, Status.SCORING))
        .values_list("status", flat=True)
        .order_by()
    )
    waits = Submission.objects.filter(started_at__gte=since).order_by("-started_at")
    scored = Submission.objects.filter(status=Status.SCORED, finished_at__gte=since).order_by("-finished_at")
    failed = Submission.objects.filter(status=Status.FAILED, finished_at__gte=now - FAILURE_WINDOW)
    reasons = Counter(failure_reason(m) for m in failed.values_list("error_message", flat=True)[:MAX_SAMPLES])
    return {
        "in_flight": {status: in_flight.get(status, 0) for status in ("queued", "running", "scoring")},
        "last_hour": {
            "scored": scored.count(),
            "median_wait_s": _median_seconds(waits.values_list("queued_at", "started_at")[:MAX_SAMPLES]),
            "median_time_to_score_s": _median_seconds(
                scored.values_list("created_at", "finished_at")[:MAX_SAMPLES]
            ),
        },
        "failures_last_24h": [
            {"reason": reason, "count": count} for reason, count in reasons.most_common(MAX_REASONS)
        ],
    }


def training_devices(by_node: dict[str, list[dict]]) -> list[dict]:
    """One row per device of each trainer, in node order, with the figures the trainer gave
    (`common.protocol.DeviceStats`) and the worker's name: its node name without the host
    (`trainer1@gpu-7.internal` -> `trainer1`): the status is public, the machines' names are not."""
    return [
        {"worker": node.split("@", 1)[0], **device} for node in sorted(by_node) for device in by_node[node]
    ]


def platform_status(*, now: datetime | None = None) -> dict:
    """Workers per queue, the trainers' devices, queue depths, entries in flight, waits,
    failures and the version; computed at most every PODIUM_STATUS_CACHE_S seconds (the
    worker inspection waits for answers), so that the page costs nothing under load."""
    cached = cache.get(STATUS_CACHE_KEY)
    if cached is not None:
        return cached
    now = now or timezone.now()
    try:
        depths = probes.queue_depths()
        broker = None
    except Exception as exc:  # the page says the broker is down rather than failing
        depths, broker = None, probes.broker_problem() or str(exc)
    workers = probes.workers_by_queue() if broker is None else None
    devices = probes.device_stats(probes.train_nodes(workers)) if workers is not None else None
    database = probes.database_problem()
    status = {
        "version": settings.PODIUM_VERSION,
        "deployed_at": settings.PODIUM_DEPLOYED_AT or None,
        "checked_at": now.isoformat().replace("+00:00", "Z"),
        "database": "ok" if database is None else "unreachable",
        "broker": "ok" if broker is None else "unreachable",
        "queues": [
            {
                "name": name,
                "depth": None if depths is None else depths.get(name, 0),
                "workers": None if workers is None else len(workers.get(name, [])),
            }
            for name in probes.queues()
        ],
        "workers_known": workers is not None,
        "devices": training_devices(devices or {}),
        **(entry_figures(now=now) if database is None else NO_FIGURES),
    }
    cache.set(STATUS_CACHE_KEY, status, settings.PODIUM_STATUS_CACHE_S)
    return status

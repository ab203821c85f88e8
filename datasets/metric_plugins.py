"""Metric plugins: metrics an operator installs as Python packages, and their isolated runs.

A plugin is a distribution that declares, in the entry-point group `podium.metrics`, an
object that is a `datasets.metrics.Metric` (docs/leaderboard.md, "Metric plugins"). It is
loaded once per process when datasets.metrics builds METRICS, and from then on is a
metric like the built-in ones: the admin's choices, `GET /api/metrics/`, the scorer.

A plugin is code Podium did not review, so the scorer never runs it in its own process:
`run_isolated` forks a child that computes, sends back JSON through a pipe and exits; the
parent waits at most a time limit, then kills it. A plugin that raises, returns NaN or a
non-number, exits, crashes the interpreter or runs past the limit fails the entry with a
reason, and the scorer goes on. A plugin that cannot be loaded is left out, logged, and
listed in LOAD_PROBLEMS.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import select
import signal
import time
import traceback
from collections.abc import Callable
from importlib.metadata import entry_points

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "podium.metrics"
# A metric's name is stored in a 30-character column and written in CSV headers and URLs.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,29}", re.ASCII)
TASK_TYPES = ("classification", "regression")

# Why each plugin that could not be loaded was left out (for the operator: logged too).
LOAD_PROBLEMS: list[str] = []


class MetricFailed(Exception):
    """A plugin metric could not give a score; the message is worded for the participant."""


def load_plugins(*, metric_type: type, taken: set[str]) -> list:
    """The valid metrics registered under ENTRY_POINT_GROUP, each marked with its source."""
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        where = f"{ep.dist.name if ep.dist else '?'}:{ep.name}"
        try:
            metric = ep.load()
        except Exception as exc:  # any error of foreign code: leave the plugin out, say why
            _refuse(where, f"importing {ep.value} raised {type(exc).__name__}: {exc}")
            continue
        problem = _declaration_problem(metric, metric_type, taken)
        if problem is not None:
            _refuse(where, problem)
            continue
        taken.add(metric.name)
        found.append(dataclasses.replace(metric, source=f"plugin {where}"))
    return found


def _refuse(where: str, why: str) -> None:
    message = f"metric plugin {where} was not loaded: {why}"
    LOAD_PROBLEMS.append(message)
    log.error(message)


def _declaration_problem(metric, metric_type: type, taken: set[str]) -> str | None:
    if not isinstance(metric, metric_type):
        return f"the entry point must name a datasets.metrics.Metric, not {type(metric).__name__}"
    if not isinstance(metric.name, str) or not NAME_RE.fullmatch(metric.name):
        return f"its name {metric.name!r} must be 1-30 of a-z, 0-9 and _, starting with a letter"
    if metric.name in taken:
        return f"the name {metric.name!r} is taken by another metric"
    if metric.task_type not in TASK_TYPES:
        return f"its task_type {metric.task_type!r} must be one of {', '.join(TASK_TYPES)}"
    if metric.needs_proba and metric.task_type != "classification":
        return "only a classification metric can need probabilities"
    if not callable(metric.fn):
        return "its fn is not callable"
    return None


# --- isolated runs ----------------------------------------------------------------------


def run_isolated(work: Callable[[], list[float]], *, timeout_s: float, what: str) -> list[float]:
    """`work()` in a forked child, its finite numbers back, or MetricFailed naming `what`.

    Fork, not a pool: the child inherits the arrays (nothing is copied or pickled), and a
    scorer that is itself a daemonic pool process may not start multiprocessing children."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(work, write_end)
    os.close(write_end)
    try:
        data = _read_until(read_end, deadline=time.monotonic() + timeout_s)
    finally:
        os.close(read_end)
    if data is None:
        _kill(pid)
        raise MetricFailed(f"{what} took longer than {timeout_s:g} s and was stopped.")
    _, status = os.waitpid(pid, 0)
    if not data:
        raise MetricFailed(f"{what} ended without a result ({_exit_text(status)}).")
    answer = json.loads(data)
    if "error" in answer:
        raise MetricFailed(f"{what} raised {answer['error']}")
    values = answer["values"]
    for value in values:
        if value is None:
            raise MetricFailed(f"{what} returned NaN.")
    return values


def _child(work, write_end: int) -> None:
    code = 0
    try:
        try:
            values = [_number(v) for v in work()]
            payload = {"values": [v if math.isfinite(v) else None for v in values]}
        except BaseException as exc:  # noqa: BLE001 - anything the plugin does is reported
            last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
            at = f" (at {os.path.basename(last[0].filename)}:{last[0].lineno})" if last else ""
            payload = {"error": f"{type(exc).__name__}: {str(exc)[:300]}{at}"}
        data = json.dumps(payload).encode()
        while data:
            data = data[os.write(write_end, data) :]
    except BaseException:  # noqa: BLE001 - the parent reads an empty pipe as a failure
        code = 1
    finally:
        os._exit(code)  # never run the parent's atexit handlers, connections or Celery's teardown


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) and not hasattr(value, "__float__"):
        raise TypeError(f"the metric returned {type(value).__name__}, not a number")
    return float(value)


def _read_until(fd: int, *, deadline: float) -> bytes | None:
    """Everything written before the child closed its end, or None past the deadline."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"

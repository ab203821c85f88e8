"""What the end-to-end tests submit and how they wait for it."""

from __future__ import annotations

import csv
import io
import time

from podium_client.client import FINAL_STATUSES, PodiumClient

TINY_CONFIG = """\
version: 1
seed: 0
model:
  init: he_normal
  layers:
    - linear: {units: 16}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 2
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""

# Long enough on CPU (a few seconds) that a worker can be killed in the middle.
SLOW_CONFIG = """\
version: 1
seed: 0
model:
  layers:
    - linear: {units: 128}
    - activation: relu
    - linear: {units: 128}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 40
  batch_size: 4
  optimizer: {name: adam, lr: 0.001}
"""


def iris_truth() -> dict[str, str]:
    """The hidden labels, read by the test from the catalog (the platform never serves them)."""
    from datasets import catalog

    raw = catalog.build("iris").files["test_labels.csv"].decode()
    return {row["id"]: row["target"] for row in csv.DictReader(io.StringIO(raw))}


def predictions_csv(labels: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "target"])
    writer.writerows(sorted(labels.items(), key=lambda kv: int(kv[0])))
    return out.getvalue().encode()


def wait_final(client: PodiumClient, ids: list[int], *, timeout: float, platform=None) -> dict[int, dict]:
    """Poll the API until every entry is final; on a timeout, fail with the processes' logs."""
    deadline = time.monotonic() + timeout
    states: dict[int, dict] = {}
    while time.monotonic() < deadline:
        states = {i: client.submission(i) for i in ids}
        if all(s["status"] in FINAL_STATUSES for s in states.values()):
            return states
        time.sleep(0.25)
    summary = {i: (s["status"], s.get("attempt"), s.get("error_message")) for i, s in states.items()}
    logs = platform.logs() if platform is not None else ""
    raise AssertionError(f"entries not final after {timeout:.0f} s: {summary}\n{logs}")


def wait_for(predicate, *, timeout: float, what: str, platform=None, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    logs = platform.logs() if platform is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")


def board(client: PodiumClient, slug: str) -> list[dict]:
    return client.leaderboard(slug)["results"]

"""Health and status: /healthz, /readyz (the real database and broker; a dead broker named),
GET /api/status/ and the /status/ page, with a real Celery worker answering the inspection."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from podium.submissions.models import Kind, Status
from tests.factories.competitions import make_competition
from tests.factories.submissions import make_submission

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _fresh_status(settings):
    settings.PODIUM_STATUS_CACHE_S = 0  # every call measures again, unless a test says otherwise
    from django.core.cache import cache

    from podium.status.selectors import STATUS_CACHE_KEY

    cache.delete(STATUS_CACHE_KEY)
    yield
    cache.delete(STATUS_CACHE_KEY)


@pytest.fixture
def dead_broker(redis_url, monkeypatch):
    """The broker URL pointed at a port where nothing listens, for the length of a test
    (Celery reads CELERY_BROKER_URL from the environment before its configuration)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{port}/0")


def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert "no-cache" in answer["Cache-Control"]


def test_readyz_checks_the_database_and_the_broker(client, redis_url):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"database": "ok", "broker": "ok", "status": "ok"}


def test_readyz_names_a_dead_broker(client, dead_broker):
    started = time.monotonic()
    answer = client.get("/readyz")
    assert time.monotonic() - started < 10  # bounded: an orchestrator's probe has a timeout
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["database"] == "ok"
    assert body["broker"] != "ok" and body["broker"]


def test_status_counts_entries_waits_and_failures_by_reason(anon_api, alice, bob, settings, redis_url):
    settings.PODIUM_VERSION = "2026.11.30-abc123"
    competition = make_competition()
    now = timezone.now()
    make_submission(competition, alice, kind=Kind.CONFIG, status=Status.QUEUED)
    make_submission(
        competition,
        alice,
        kind=Kind.CONFIG,
        status=Status.RUNNING,
        queued_at=now - timedelta(seconds=50),
        started_at=now - timedelta(seconds=20),
    )
    for waited in (10, 30):
        make_submission(
            competition,
            bob,
            kind=Kind.CONFIG,
            status=Status.FAILED,
            queued_at=now - timedelta(seconds=100),
            started_at=now - timedelta(seconds=100 - waited),
            finished_at=now,
            error_message=f"training diverged: the train loss is nan at epoch {waited} (train); try 'x'",
        )
    make_submission(
        competition,
        bob,
        status=Status.FAILED,
        finished_at=now,
        error_message="The training worker stopped responding 3 times; giving up.",
    )
    answer = anon_api.get("/api/status/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == "2026.11.30-abc123"
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert body["in_flight"] == {"queued": 1, "running": 1, "scoring": 0}
    assert body["last_hour"]["median_wait_s"] == 30.0  # waits of 30, 10 and 30 s
    assert body["failures_last_24h"] == [
        {"reason": "training diverged", "count": 2},
        {"reason": "The training worker stopped responding N times", "count": 1},
    ]
    assert [q["name"] for q in body["queues"]] == ["scoring", "gpu", "cpu", "maintenance"]
    assert "alice" not in answer.content.decode() and "bob" not in answer.content.decode()


def test_status_counts_the_messages_waiting_in_a_queue(anon_api, redis_url):
    from podium.celery import app

    depth = {q["name"]: q["depth"] for q in anon_api.get("/api/status/").json()["queues"]}
    app.send_task("podium.tests.no_such_task", args=[], queue="cpu", routing_key="cpu", exchange="cpu")
    try:
        after = {q["name"]: q["depth"] for q in anon_api.get("/api/status/").json()["queues"]}
        assert after["cpu"] == depth["cpu"] + 1
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("cpu")


def test_status_is_measured_at_most_every_few_seconds(anon_api, alice, settings, redis_url):
    settings.PODIUM_STATUS_CACHE_S = 60
    competition = make_competition()
    first = anon_api.get("/api/status/").json()
    make_submission(competition, alice, kind=Kind.CONFIG, status=Status.QUEUED)
    assert anon_api.get("/api/status/").json() == first


def test_status_says_the_broker_is_down_instead_of_failing(anon_api, dead_broker):
    body = anon_api.get("/api/status/").json()
    assert body["broker"] == "unreachable" and body["database"] == "ok"
    assert all(q["depth"] is None and q["workers"] is None for q in body["queues"])
    assert body["in_flight"] == {"queued": 0, "running": 0, "scoring": 0}


@contextlib.contextmanager
def celery_worker(log_path: Path, app: str, queues: str, node: str, *options: str, env: dict | None = None):
    """A real Celery worker process of `app` on `queues`, logging to `log_path`, stopped after."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        **(env or {}),
    }
    command = [str(Path(sys.executable).parent / "celery"), "-A", app, "worker", "-Q", queues, *options]
    command += ["-n", f"{node}@%h", "--without-mingle", "--without-gossip", "-l", "INFO"]
    with log_path.open("wb") as log:
        worker = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield worker
        finally:
            worker.terminate()
            worker.wait(30)


def test_workers_online_per_queue_from_a_real_worker(anon_api, redis_url, tmp_path):
    node = f"status-probe-{os.getpid()}"
    log = tmp_path / "worker.log"
    with celery_worker(log, "podium", "maintenance", node, "--pool", "solo") as worker:
        deadline = time.monotonic() + 90
        while b" ready." not in log.read_bytes():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        body = anon_api.get("/api/status/").json()
        assert body["workers_known"] is True
        workers = {q["name"]: q["workers"] for q in body["queues"]}
        assert workers["maintenance"] >= 1
        assert workers["gpu"] == 0 and workers["cpu"] == 0


def test_the_status_page(client, settings, redis_url):
    settings.PODIUM_VERSION = "v42"
    page = client.get("/status/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="status-version">v42<' in html and "Operational" in html
    assert "scoring" in html and "maintenance" in html
    assert "/api/status/" in html


def test_each_trainers_devices_from_a_real_trainer(anon_api, client, redis_url, tmp_path, settings):
    """The trainer answers the status probe with its device's figures (its own inspect command:
    the trainer stays Django-free); the API and the page show them per device. The fair queue
    reads from it how many released entries may wait for it (two, though it holds four)."""
    node = f"status-trainer-{os.getpid()}"
    env = {"PODIUM_VAR_DIR": str(tmp_path), "PODIUM_WORKER_DEVICE": "cpu", "PODIUM_WORKER_MAX_IN_FLIGHT": "4"}
    log = tmp_path / "trainer.log"
    with celery_worker(log, "workers.celery_app", "gpu,cpu", node, env=env) as trainer:
        deadline = time.monotonic() + 120
        while True:
            assert trainer.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the trainer's device never showed on the status"
            body = anon_api.get("/api/status/").json()
            mine = [d for d in body["devices"] if d["worker"] == node]  # no host name: the page is public
            if mine:
                break
            time.sleep(0.5)
        [device] = mine
        assert device["device"] == "cpu" and device["packing"] is True
        assert device["in_flight"] == device["waiting"] == device["training"] == 0 and device["packs"] == []
        assert device["packs_done"] == 0 and device["mean_pack_size"] is None
        assert 0 < device["memory_used_bytes"] < device["memory_total_bytes"]
        assert {q["name"]: q["workers"] for q in body["queues"]}["cpu"] >= 1
        page = client.get("/status/").content.decode()
        assert 'data-testid="status-devices"' in page and node in page
        assert f"{node}@" not in page and f"{node}@" not in str(body)

        from django.core.cache import cache

        from podium.submissions import queue

        settings.PODIUM_DISPATCH_WINDOW = 0
        cache.delete(queue.CAPACITY_CACHE_KEY + ":fresh")
        assert queue.training_capacity_refresh() == queue.RELEASED_PER_WORKER == 2
        assert queue.dispatch_window() == 2

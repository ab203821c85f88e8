"""Many attempts in flight in one process, against the real worker API (live_server): each
task thread claims its entry and posts its own epochs and predictions while the device pool
trains the entries together; a cancelled entry leaves its pack; the worker's time limit holds
without Celery enforcing it."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.e2e.helpers import SLOW_CONFIG, TINY_CONFIG
from tests.workers.test_tasks_runner import competition, queued_entry, settings_for  # noqa: F401 - fixtures
from workers.device_pool import DevicePool, PoolSettings
from workers.runner import run_submission

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pool():
    pool = DevicePool("cpu", PoolSettings(gather_s=1.0, stats_interval_s=0))
    yield pool
    pool.close()


def run_in_threads(entries, settings, pool) -> dict[int, str]:
    outcomes: dict[int, str] = {}
    threads = [
        threading.Thread(
            target=lambda e=entry, t=token: outcomes.__setitem__(
                e.pk, run_submission(e.pk, 1, t, settings=settings, pool=pool)
            )
        )
        for entry, token in entries
    ]
    for thread in threads:
        thread.start()
    return outcomes, threads


def pack_sizes(caplog) -> list[int]:
    found = (re.match(r"pack of (\d+) on ", r.getMessage()) for r in caplog.records)
    return sorted(int(m.group(1)) for m in found if m)


def test_attempts_in_flight_train_as_one_pack_and_each_reports_its_own_entry(
    competition,  # noqa: F811
    alice,
    settings_for,  # noqa: F811
    pool,
    caplog,
):
    from podium.submissions.models import EpochMetric, Submission

    caplog.set_level("INFO", logger="workers.device_pool")
    entries = [
        queued_entry(competition, alice, TINY_CONFIG.replace("seed: 0", f"seed: {s}")) for s in range(3)
    ]
    outcomes, threads = run_in_threads(entries, settings_for, pool)
    for thread in threads:
        thread.join(120)
    assert set(outcomes.values()) == {"done"}, outcomes
    assert pack_sizes(caplog) == [3]
    for entry, _ in entries:
        stored = Submission.objects.get(pk=entry.pk)
        assert stored.status == "scoring" and stored.predictions and stored.weights
        assert list(EpochMetric.objects.filter(submission=stored).values_list("epoch", flat=True)) == [1, 2]
        assert stored.training_report["environment"]["device"] == "cpu"


def test_a_cancelled_entry_leaves_its_pack_and_its_mates_finish(
    competition,  # noqa: F811
    alice,
    settings_for,  # noqa: F811
    pool,
    caplog,
):
    from podium.submissions.models import EpochMetric, Submission
    from podium.submissions.services import submission_cancel

    caplog.set_level("INFO", logger="workers.device_pool")
    slow = SLOW_CONFIG.replace("epochs: 40", "epochs: 12")
    entries = [queued_entry(competition, alice, slow.replace("seed: 0", f"seed: {s}")) for s in range(3)]
    target = entries[1][0]
    outcomes, threads = run_in_threads(entries, settings_for, pool)
    deadline = time.monotonic() + 90
    while not EpochMetric.objects.filter(submission_id__in=[e.pk for e, _ in entries]).exists():
        assert time.monotonic() < deadline, "no epoch was posted"
        time.sleep(0.05)
    submission_cancel(submission=Submission.objects.get(pk=target.pk))
    for thread in threads:
        thread.join(120)
    assert outcomes[target.pk] == "stopped"
    assert [outcomes[e.pk] for e, _ in entries if e.pk != target.pk] == ["done", "done"]
    assert pack_sizes(caplog) == [3]
    assert Submission.objects.get(pk=target.pk).status == "cancelled"
    assert EpochMetric.objects.filter(submission=target).count() < 12


def test_the_worker_time_limit_fails_an_attempt_with_a_reason(
    competition,  # noqa: F811
    alice,
    settings_for,  # noqa: F811
    pool,
):
    from dataclasses import replace

    from podium.submissions.models import Submission

    # 30 epochs (the competition's budget) of one row per step: many seconds, past a 1 s limit.
    entry, token = queued_entry(competition, alice, SLOW_CONFIG.replace("batch_size: 4", "batch_size: 1"))
    started = time.monotonic()
    outcome = run_submission(entry.pk, 1, token, settings=replace(settings_for, time_limit_s=1.0), pool=pool)
    assert outcome == "failed"
    assert time.monotonic() - started < 30
    message = Submission.objects.get(pk=entry.pk).error_message
    assert message.startswith("training exceeded the worker's time limit while "), message

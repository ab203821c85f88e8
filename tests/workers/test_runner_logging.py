"""What the worker logs: one line for a participant's diverged or cancelled run, a traceback
only for a platform fault (workers.runner against the real worker API on live_server)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.e2e.helpers import SLOW_CONFIG
from tests.workers.test_tasks_runner import competition, queued_entry, settings_for  # noqa: F401 (fixtures)
from workers.runner import run_submission

pytestmark = pytest.mark.django_db(transaction=True)

DIVERGING_CONFIG = """\
version: 1
seed: 0
model:
  layers:
    - linear: {units: 64}
    - linear: {units: 64}
    - linear: {units: auto}
train:
  epochs: 20
  batch_size: 8
  optimizer: {name: sgd, lr: 10.0}
"""


def _runner_records(caplog):
    return [r for r in caplog.records if r.name == "workers.runner"]


def test_a_diverged_run_is_one_line_without_a_traceback(competition, alice, settings_for, caplog):  # noqa: F811
    from podium.submissions.models import Submission

    caplog.set_level(logging.INFO, logger="workers.runner")
    entry, token = queued_entry(competition, alice, DIVERGING_CONFIG)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "failed"
    entry = Submission.objects.get(pk=entry.pk)
    assert entry.status == "failed" and "diverged" in entry.error_message
    failed = [r for r in _runner_records(caplog) if "failed" in r.getMessage()]
    assert len(failed) == 1 and "diverged" in failed[0].getMessage()
    assert all(r.exc_info is None for r in _runner_records(caplog))


def test_a_cancelled_run_logs_no_traceback(competition, alice, settings_for, caplog):  # noqa: F811
    from podium.submissions.models import EpochMetric, Submission
    from podium.submissions.services import submission_cancel

    caplog.set_level(logging.INFO, logger="workers.runner")
    entry, token = queued_entry(competition, alice, SLOW_CONFIG)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault("v", run_submission(entry.pk, 1, token, settings=settings_for))
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not EpochMetric.objects.filter(submission=entry).exists():
        assert time.monotonic() < deadline, "no epoch was posted"
        time.sleep(0.05)
    submission_cancel(submission=Submission.objects.get(pk=entry.pk))
    thread.join(60)
    assert outcome["v"] == "stopped"
    assert all(r.exc_info is None for r in _runner_records(caplog))
    assert all(
        r.levelno < logging.WARNING for r in _runner_records(caplog) if "heartbeat" not in r.getMessage()
    )


def test_a_platform_fault_keeps_its_traceback(competition, alice, settings_for, caplog):  # noqa: F811
    from podium.competitions.models import DatasetFile

    caplog.set_level(logging.INFO, logger="workers.runner")
    # The platform serves a file that does not match its manifest: not the participant's doing.
    DatasetFile.objects.filter(dataset=competition.dataset, name="train.csv").update(sha256="0" * 64)
    entry, token = queued_entry(competition, alice, SLOW_CONFIG)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "failed"
    assert any(r.exc_info for r in _runner_records(caplog))

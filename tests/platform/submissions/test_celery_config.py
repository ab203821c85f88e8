"""The web tier's Celery app: queues, beat schedule, and the start-up time-limit check."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.broker import BrokerConfigError, check_time_limit
from podium.celery import app


def check(url, limit, visibility=None):
    options = {} if visibility is None else {"visibility_timeout": visibility}
    check_time_limit(url, options, limit)


def test_time_limit_must_stay_below_the_visibility_timeout():
    check("redis://127.0.0.1:6379/0", 1800, 3600)
    with pytest.raises(BrokerConfigError, match=r"PODIUM_TASK_TIME_LIMIT=3600\) must be below"):
        check("redis://127.0.0.1:6379/0", 3600, 3600)
    with pytest.raises(BrokerConfigError, match=r"PODIUM_VISIBILITY_TIMEOUT=3600\)"):
        check("redis://127.0.0.1:6379/0", 7200)  # Redis default 3600
    with pytest.raises(BrokerConfigError, match="no hard task time limit is set"):
        check("redis://127.0.0.1:6379/0", None)
    check("filesystem://", 99999)  # no visibility timeout there


def test_a_worker_refuses_to_start_with_a_bad_limit(tmp_path):
    """The real `celery worker` start-up: the check runs in worker_init and stops it."""
    import os

    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "PODIUM_TASK_TIME_LIMIT": "7200",
        "PODIUM_VISIBILITY_TIMEOUT": "3600",
        "PODIUM_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "podium",
            "worker",
            "-Q",
            "scoring",
            "-P",
            "solo",
            "--without-mingle",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[3]),
    )
    assert done.returncode != 0
    assert "must be below the broker's visibility timeout" in done.stdout + done.stderr


def test_settings_for_reliable_delivery():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert {q.name for q in app.conf.task_queues} >= {"scoring", "gpu", "cpu"}


def test_beat_runs_the_reaper_and_the_reveal(settings):
    app.loader.import_default_modules()  # what a worker does at start-up: autodiscovery
    schedule = app.conf.beat_schedule
    assert schedule["submissions-reap-stale"]["task"] == "podium.submissions.tasks.reap_stale"
    assert schedule["submissions-reap-stale"]["schedule"] == float(settings.PODIUM_REAPER_INTERVAL_S)
    assert schedule["leaderboards-reveal-due"]["task"] == "podium.leaderboards.tasks.reveal_due"
    assert "podium.submissions.tasks.score_submission" in app.tasks
    assert "podium.submissions.tasks.reap_stale" in app.tasks

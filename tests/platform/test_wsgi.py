"""The web server and the scorer do the request and task paths' imports when they start,
not on the first entry, and open nothing while doing so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from podium import wsgi
from django.urls import get_resolver
print("pandas" in sys.modules, "datasets.scoring" in sys.modules,
      "podium.submissions.api" in sys.modules, "url_patterns" in vars(get_resolver()))
"""


def _env(tmp_path) -> dict:
    # Nothing listens on port 1: a connection attempt at load time would fail the import.
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "PODIUM_VAR_DIR": str(tmp_path / "var"),
        "PODIUM_MEDIA_ROOT": str(tmp_path / "media"),
        "PODIUM_TASK_TIME_LIMIT": "600",
    }


def _probe(code: str, tmp_path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_loading_the_application_imports_the_request_paths_without_connecting(tmp_path):
    assert _probe(PROBE, tmp_path) == ["True", "True", "True", "True"]


def test_the_scorer_imports_the_validator_when_it_starts(tmp_path):
    code = (
        "import sys\nfrom podium.celery import app\nfrom celery.signals import worker_init\n"
        "before = 'datasets.scoring' in sys.modules\nworker_init.send(sender=None)\n"
        "print(before, 'datasets.scoring' in sys.modules)\n"
    )
    assert _probe(code, tmp_path) == ["False", "True"]

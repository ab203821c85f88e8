"""The WSGI module does the request paths' imports when it loads, and opens nothing."""

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


def test_loading_the_application_imports_the_request_paths_without_connecting(tmp_path):
    # Nothing listens on port 1: a connection attempt at load time would fail the import.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "PODIUM_VAR_DIR": str(tmp_path / "var"),
        "PODIUM_MEDIA_ROOT": str(tmp_path / "media"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True"]

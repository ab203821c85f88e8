"""Production settings pass Django's deployment checklist with no warning at all."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    # Only what a production host sets: nothing another test left in this process's environment.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "PODIUM_ENV": "production",
        "PODIUM_SECRET_KEY": secrets.token_urlsafe(64),
        "PODIUM_ALLOWED_HOSTS": "podium.example.com",
        # Production refuses a per-process cache (the rate limits must be shared); the check
        # itself connects to nothing.
        "CACHE_URL": "redis://127.0.0.1:6379/1",
        "PODIUM_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "System check identified no issues (0 silenced)." in out.stdout

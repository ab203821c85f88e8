"""The rate-limit settings refuse what would not work: a malformed rate, and production on a
per-process cache (the limits must be counted where every web process sees them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("rate", ["10", "ten/1m", "10/1w", "0/1m", "5/0s"])
def test_a_bad_rate_fails_the_system_check(settings, rate):
    from podium.accounts.checks import check_rates

    settings.PODIUM_INTAKE_RATE = rate
    errors = check_rates()
    assert [e.id for e in errors] == ["accounts.E001"] and "PODIUM_INTAKE_RATE" in errors[0].msg


def test_production_refuses_a_local_memory_cache():
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'platform'}",
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "PODIUM_ENV": "production",
        "PODIUM_SECRET_KEY": "s" * 30 + "ecret-key-long-enough-for-the-check-0123456789",
        "CACHE_URL": "locmem://",
    }
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "PODIUM_ENV=production needs CACHE_URL=redis://" in run.stderr

"""The real platform for the browser tests that need entries scored: gunicorn, the scorer
and the trainer in subprocesses (tests/e2e/harness.py), on the test database and a
broker folder of the test's own. The browser talks to that gunicorn."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.harness import Platform, database_url


@pytest.fixture
def podium_platform(settings, tmp_path):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media  # the test process and the subprocesses share the files
    plat = Platform(
        tmp=tmp_path,
        db_url=database_url(settings.DATABASES["default"]),
        broker_url="filesystem://",  # under the test's own PODIUM_VAR_DIR: private to this test
        cache_url="locmem://",
        media_root=media,
        extra_env={"PODIUM_WEB_TEST": "1"},
    )
    for sub in ("queue", "processed"):  # kombu's filesystem transport expects its folders
        (tmp_path / "var" / "broker" / sub).mkdir(parents=True, exist_ok=True)
    try:
        # Started side by side: each mostly waits on its own imports.
        with ThreadPoolExecutor(3) as pool:
            starts = [
                pool.submit(plat.start_web, workers=1, threads=4),
                pool.submit(plat.start_scorer),
                pool.submit(plat.start_trainer),
            ]
            for started in starts:
                started.result()
        yield plat
    except BaseException:
        print(plat.logs())
        raise
    finally:
        for proc in reversed(list(plat.procs.values())):
            # The test is over: nothing is left to finish, so no warm shutdown to wait for.
            proc.kill(signal.SIGKILL)
            proc.stop(timeout=5)

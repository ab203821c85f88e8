"""Fixtures of the end-to-end tests: the test database shared with real processes,
a private broker, a competition on a built-in dataset and a participant with a token.

The tests are transactional (`transaction=True`): rows are committed, so gunicorn,
the scorer and beat (separate processes) see them through DATABASE_URL, which
points at the test database of this run.
"""

from __future__ import annotations

import itertools
import os
import shutil

import pytest

from tests.e2e.harness import Platform, RedisServer, database_url
from tests.factories.accounts import make_api_token, make_user
from tests.factories.competitions import make_competition

_buckets = itertools.count(1)
REQUIRE_SERVICES = os.environ.get("PODIUM_REQUIRE_SERVICES", "") == "1"


def _need(what: str):
    from tests.conftest import need_service

    need_service(what)


@pytest.fixture
def shared_db(transactional_db, settings):
    from django.db import connection

    if REQUIRE_SERVICES and not connection.settings_dict["ENGINE"].endswith("postgresql"):
        pytest.fail("PODIUM_REQUIRE_SERVICES=1 but the end-to-end tests are not on PostgreSQL")
    return database_url(connection.settings_dict)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        _need("redis-server (to run a private Redis for the end-to-end tests)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    server = RedisServer(workdir, logs).start()
    yield server
    server.stop()


@pytest.fixture
def make_platform(shared_db, settings, tmp_path):
    """Build (not start) the processes of one platform; all are stopped after the test."""
    made: list[Platform] = []

    def make(*, broker: str, redis: RedisServer | None = None, extra_env: dict | None = None) -> Platform:
        if broker == "redis":
            assert redis is not None
            broker_url, cache_url = f"{redis.url}/0", f"{redis.url}/1"
        else:
            broker_url, cache_url = "filesystem://", "locmem://"
        platform = Platform(
            tmp=tmp_path,
            db_url=shared_db,
            broker_url=broker_url,
            cache_url=cache_url,
            media_root=settings.MEDIA_ROOT,
            extra_env=extra_env,
        )
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.stop()


@pytest.fixture
def competition(shared_db):
    return make_competition(
        "iris-e2e",
        title="Iris end to end",
        daily_limit=100,
        budget_epochs=400,
        budget_seconds=120,
    )


@pytest.fixture
def participant(competition):
    from podium.competitions.services import competition_join

    user = make_user("eve", password="x-Passw0rd-x")
    competition_join(competition=competition, user=user)
    return user, make_api_token(user, name="e2e")


@pytest.fixture(scope="session")
def _s3_process():
    """One S3-protocol server for the session: the checks that run after a test (the hidden
    rows walk of tests/conftest.py) still read that test's files from it."""
    from tests.e2e.s3_server import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_server(_s3_process, settings, monkeypatch, request):
    """An empty private bucket of this test on a real S3-protocol server; this test process and
    the platform's processes (through `s3_server.credentials` in their environment) keep media in it."""
    from podium.storage_url import media_storage_from_url

    server = _s3_process.with_bucket(f"podium-{next(_buckets)}")
    for name, value in server.credentials.items():
        monkeypatch.setenv(name, value)
    settings.PODIUM_STORAGE_URL = server.storage_url
    settings.STORAGES = {**settings.STORAGES, "default": media_storage_from_url(server.storage_url).backend}
    return server

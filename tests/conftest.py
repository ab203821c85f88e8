"""Shared fixtures: the personas (alice owns, bob is another participant, charlie has
no access, an admin) and the real services.

With PODIUM_REQUIRE_SERVICES=1 (CI) a test that needs PostgreSQL or Redis fails
instead of skipping.
"""

from __future__ import annotations

import os

import pytest

from tests.factories.accounts import make_user

REQUIRE_SERVICES = os.environ.get("PODIUM_REQUIRE_SERVICES", "") == "1"


def need_service(what: str):
    """Skip locally, fail in CI, when a real service is missing."""
    message = f"{what} is not configured or not reachable"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (PODIUM_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        need_service("Redis (CELERY_BROKER_URL=redis://…)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        need_service(f"Redis at {url}")
    return url


@pytest.fixture
def postgres(settings):
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        need_service("PostgreSQL (DATABASE_URL=postgres://…)")
    return settings.DATABASES["default"]


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def charlie(db):
    return make_user("charlie")


@pytest.fixture
def admin_user(db):
    return make_user("admin", is_staff=True, is_superuser=True)


def _api_client(user=None):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def anon_api():
    return _api_client()


@pytest.fixture
def alice_api(alice):
    return _api_client(alice)


@pytest.fixture
def bob_api(bob):
    return _api_client(bob)


@pytest.fixture
def charlie_api(charlie):
    return _api_client(charlie)


@pytest.fixture
def admin_api(admin_user):
    return _api_client(admin_user)


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Every test starts with empty caches: the rate limits (logins, token failures, intake)
    count per test, at their real defaults, and no test inherits another's counts."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Every test writes files under its own folder, never into var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def _session_broker_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("broker")


@pytest.fixture(autouse=True)
def _broker_in_tmp(_session_broker_folder):
    """Every test's task messages go to a folder of the suite, never to var/broker, where a
    `make run` worker would take them. Suites with workers of their own override this
    fixture by name with their own folder (so the app is repointed once, not twice)."""
    from tests.broker_folders import use_broker_folder

    return use_broker_folder(_session_broker_folder)

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


def pytest_configure(config):
    # The live server (Django's development server) writes a response's headers and body in
    # separate small packets; on a kept-alive connection Nagle's algorithm holds the body until
    # the client's delayed ACK, 40 ms later: 44 ms a request where a new connection takes 2 ms.
    # schemathesis's session spent three of its four minutes waiting so.
    from django.core.servers.basehttp import WSGIRequestHandler

    WSGIRequestHandler.disable_nagle_algorithm = True


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


@pytest.fixture(autouse=True)
def _no_hidden_test_row_served(request):
    """Every dataset a test uploads is walked when the test ends: none of its hidden test rows
    may be a row of its own train.csv or of any other downloadable file (docs/architecture.md,
    hidden labels). A test that uploads a leaking dataset on purpose (the warning's tests)
    says so with `@pytest.mark.leaking_upload`."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if not uses_db or request.node.get_closest_marker("leaking_upload"):
        yield
        return
    request.getfixturevalue("db" if "transactional_db" not in request.fixturenames else "transactional_db")
    yield
    from datasets.overlap import find_duplicates, hidden_test_keys
    from podium.competitions.models import Dataset
    from podium.competitions.selectors import dataset_served_feature_files

    uploaded = list(Dataset.objects.filter(source=Dataset.Source.UPLOAD).prefetch_related("files"))
    if not uploaded:
        return
    served = dataset_served_feature_files()
    found = {}
    for dataset in uploaded:
        # Test rows are test.csv's feature rows, or an image dataset's test images.
        test_files = {}
        for f in dataset.files.all():
            if f.name in ("test.csv", "test_images.npy"):
                with f.file.open("rb") as fh:
                    test_files[f.name] = fh.read()
        keys = hidden_test_keys(test_files, dataset.manifest)
        if keys is None:
            continue
        # Its own test.csv, and those of its other versions (the same task), tell no label.
        same_task = f"{dataset.slug} v"
        elsewhere = [f for f in served if not f.name.startswith(same_task) or f.name.endswith(" train.csv")]
        duplicates = find_duplicates(keys, elsewhere)
        if duplicates.n_rows:
            found[str(dataset)] = duplicates.by_file
    assert found == {}, f"uploaded test rows are served elsewhere: {found}"

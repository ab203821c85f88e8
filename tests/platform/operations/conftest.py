from __future__ import annotations

import pytest

from tests.conftest import _api_client
from tests.factories.accounts import make_user
from tests.factories.competitions import make_competition


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cup_a(db):
    return make_competition("cup-a")


@pytest.fixture
def cup_b(db):
    return make_competition("cup-b", dataset="wine")


@pytest.fixture
def host(db, cup_a, admin_user):
    """Hosts cup-a (and nothing else); not site staff."""
    from podium.competitions.services import competition_host_add

    user = make_user("hannah")
    competition_host_add(competition=cup_a, user=user, added_by=admin_user)
    return user


@pytest.fixture
def host_api(host):
    return _api_client(host)

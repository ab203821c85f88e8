from __future__ import annotations

import pytest

from tests.factories.competitions import make_competition


@pytest.fixture
def iris_cup(db):
    return make_competition()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The personas' passwords would otherwise cost a slow PBKDF2 hash per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

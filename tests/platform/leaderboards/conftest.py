"""Fixtures of the board tests: a bare competition (tests/factories) and two more personas."""

from __future__ import annotations

import pytest

from tests.factories.accounts import make_user
from tests.factories.competitions import make_bare_competition


@pytest.fixture
def competition(db):
    return make_bare_competition()


@pytest.fixture
def dave(db):
    return make_user("dave")


@pytest.fixture
def erin(db):
    return make_user("erin")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The personas are created with passwords; PBKDF2's deliberate slowness is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""Mail tests send through a real SMTP server started here (aiosmtpd)."""

from __future__ import annotations

import pytest

from tests.smtp_server import SmtpServer


@pytest.fixture(scope="session")
def _smtp_session():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(_smtp_session, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _smtp_session.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.PODIUM_PUBLIC_URL = "http://podium.test"
    _smtp_session.clear()
    yield _smtp_session
    _smtp_session.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

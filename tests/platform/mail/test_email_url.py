"""PODIUM_EMAIL_URL: one setting chooses where mail goes; a bad one fails at start-up, saying why."""

from __future__ import annotations

import pytest

from common.env import EnvError
from podium.env import email_from_url


def test_console_is_the_embedded_default():
    assert email_from_url("console://") == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


def test_smtp_urls_give_host_port_credentials_and_tls():
    plain = email_from_url("smtp://mailer:p%40ss@mail.example.org:2525")
    assert (
        plain["EMAIL_HOST"],
        plain["EMAIL_PORT"],
        plain["EMAIL_HOST_USER"],
        plain["EMAIL_HOST_PASSWORD"],
    ) == (
        "mail.example.org",
        2525,
        "mailer",
        "p@ss",
    )
    assert not plain["EMAIL_USE_TLS"] and not plain["EMAIL_USE_SSL"]
    assert email_from_url("smtp+tls://mail.example.org")["EMAIL_PORT"] == 587
    assert email_from_url("smtp+tls://mail.example.org")["EMAIL_USE_TLS"]
    assert email_from_url("smtps://mail.example.org")["EMAIL_USE_SSL"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sendgrid://key", "unsupported scheme 'sendgrid'"),
        ("smtp://", "names no SMTP host"),
        ("smtp://mail.example.org:port", "the port is not a number"),
    ],
)
def test_a_bad_email_url_names_what_is_wrong(url, says):
    with pytest.raises(EnvError, match=says):
        email_from_url(url)

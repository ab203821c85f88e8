"""Failed logins are throttled per account and per address (django-axes, counted in the cache).

The limits here are the real defaults (10 failures per 15 minutes) unless a test lowers them
to keep itself short; the caches start empty in every test (tests/conftest.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client

from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
MESSAGE = "Too many failed logins for this account or address; try again in"


def log_in(client: Client, username: str, password: str, *, address: str, url: str = LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(answer, *, seconds: int = 15 * 60, words: str = "15 minutes"):
    assert answer.status_code == 429, answer.status_code
    assert answer["Retry-After"] == str(seconds)
    assert f"{MESSAGE} {words}." in answer.content.decode()


def test_twenty_wrong_passwords_lock_the_account_out(alice, bob):
    client = Client()
    answers = [log_in(client, "alice", f"wrong-{i}", address="10.0.0.1") for i in range(20)]
    # The first nine are ordinary refusals; the tenth reaches the limit.
    assert [a.status_code for a in answers] == [200] * 9 + [429] * 11
    assert "Please enter a correct username and password" in answers[0].content.decode()
    for answer in answers[9:]:
        assert_locked_out(answer)
    # The lockout is the login page again, with the reason on it (a template, not a bare 403).
    page = answers[-1].content.decode()
    assert "<h1>Log in</h1>" in page and 'name="password"' in page

    # The right password during the lockout is refused too, from any address (per account).
    for address in ("10.0.0.1", "10.9.9.9"):
        assert_locked_out(log_in(client, "alice", PASSWORD, address=address))
        assert not logged_in(client)

    # Another account from another address is not affected.
    other = Client()
    assert log_in(other, "bob", PASSWORD, address="10.0.0.2").status_code == 302
    assert logged_in(other)


def test_an_address_guessing_many_accounts_is_locked_out(settings, alice, bob, charlie):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    codes = [
        log_in(client, name, "wrong", address="10.0.0.7").status_code for name in ("alice", "charlie", "x")
    ]
    assert codes == [200, 200, 429]
    # bob never failed, but his address did: refused there, and welcome anywhere else.
    assert_locked_out(log_in(client, "bob", PASSWORD, address="10.0.0.7"))
    assert not logged_in(client)
    assert log_in(client, "bob", PASSWORD, address="10.0.0.8").status_code == 302
    assert logged_in(client)


def test_the_admin_login_is_throttled_too(admin_user):
    client = Client()
    answers = [log_in(client, "admin", "wrong", address="10.0.1.1", url=ADMIN_LOGIN) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 9 + [429]
    assert_locked_out(answers[-1])
    assert_locked_out(log_in(client, "admin", PASSWORD, address="10.0.1.1", url=ADMIN_LOGIN))
    assert not logged_in(client)
    assert client.get("/admin/", REMOTE_ADDR="10.0.1.1").status_code == 302  # still the login page


def test_a_script_gets_the_lockout_as_json(settings, alice):
    settings.AXES_FAILURE_LIMIT = 1
    answer = log_in(Client(), "alice", "wrong", address="10.0.2.1", HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert answer.status_code == 429 and answer["Retry-After"] == "900"
    assert answer.json() == {
        "detail": f"{MESSAGE} 15 minutes.",
        "code": "login_locked_out",
    }


def test_the_lockout_ends_after_the_cool_off(settings, alice):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    client = Client()
    assert log_in(client, "alice", "wrong", address="10.0.3.1").status_code == 200
    assert_locked_out(log_in(client, "alice", "wrong", address="10.0.3.1"), seconds=2, words="2 seconds")
    assert_locked_out(log_in(client, "alice", PASSWORD, address="10.0.3.1"), seconds=2, words="2 seconds")
    time.sleep(2.5)  # the refused attempt above restarted the cool-off
    assert log_in(client, "alice", PASSWORD, address="10.0.3.1").status_code == 302
    assert logged_in(client)


def test_a_forwarded_for_header_does_not_change_the_address(settings, alice, bob):
    """Without a proxy in front (PODIUM_PROXY_COUNT=0) a client cannot dodge the per-address
    limit by writing a new X-Forwarded-For on every guess."""
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    for i, name in enumerate(("alice", "nobody")):
        log_in(client, name, "wrong", address="10.0.4.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert_locked_out(log_in(client, "bob", PASSWORD, address="10.0.4.1", HTTP_X_FORWARDED_FOR="192.0.2.99"))


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings, alice, bob):
    settings.AXES_FAILURE_LIMIT = 2
    settings.PODIUM_PROXY_COUNT = 1
    client = Client()
    proxy = "10.0.5.1"
    for name in ("alice", "nobody"):
        # The left entry is the client's own claim; the proxy appends the address it saw.
        log_in(client, name, "wrong", address=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.{len(name)}, 198.51.100.7")
    assert_locked_out(log_in(client, "bob", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7"))
    assert (
        log_in(client, "bob", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 302
    )


def test_an_operator_lifts_a_lockout_with_the_axes_commands(settings, alice):
    from django.core.management import call_command

    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(2):
        log_in(client, "alice", "wrong", address="10.0.6.1")
    assert_locked_out(log_in(client, "alice", PASSWORD, address="10.0.6.2"))
    call_command("axes_reset_username", "alice")
    assert log_in(client, "alice", PASSWORD, address="10.0.6.2").status_code == 302
    assert_locked_out(log_in(Client(), "alice", PASSWORD, address="10.0.6.1"))  # the address still counts
    call_command("axes_reset_ip", "10.0.6.1")
    assert log_in(Client(), "alice", PASSWORD, address="10.0.6.1").status_code == 302

"""Guessing API tokens: failed `Authorization: Token …` attempts are counted per address in
the cache; past the limit the address is refused (429, Retry-After, {detail}) before any key
is looked up, the right one included. Other addresses and successful requests do not count."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from tests.factories.accounts import make_api_token

pytestmark = pytest.mark.django_db

ME = "/api/me/"


def with_token(key: str, address: str):
    return APIClient().get(ME, HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=address)


def assert_throttled(answer):
    assert answer.status_code == 429, answer.status_code
    wait = int(answer["Retry-After"])
    assert answer.json() == {
        "detail": f"Too many failed API token attempts from this address. Try again in {wait} "
        f"second{'s' if wait != 1 else ''}."
    }
    return wait


def test_guessing_tokens_is_refused_after_the_default_limit(alice):
    key = make_api_token(alice)
    codes = [with_token(f"pdm_guess{i}", "10.1.0.1").status_code for i in range(20)]
    assert codes == [401] * 20
    wait = assert_throttled(with_token("pdm_guess-again", "10.1.0.1"))
    assert 14 * 60 < wait <= 15 * 60
    # Refused before the lookup: the right key from that address gets the same answer.
    assert_throttled(with_token(key, "10.1.0.1"))
    # Another address is not affected.
    assert with_token(key, "10.1.0.2").json()["username"] == "alice"


def test_successful_and_tokenless_requests_do_not_count(settings, alice):
    settings.PODIUM_TOKEN_FAILURE_RATE = "2/1m"
    key = make_api_token(alice)
    assert [with_token(key, "10.1.1.1").status_code for _ in range(5)] == [200] * 5
    assert [APIClient().get("/api/competitions/", REMOTE_ADDR="10.1.1.1").status_code for _ in range(5)] == [
        200
    ] * 5
    assert with_token("pdm_wrong", "10.1.1.1").status_code == 401
    assert with_token(key, "10.1.1.1").status_code == 200


def test_a_malformed_header_counts_as_a_failure(settings):
    settings.PODIUM_TOKEN_FAILURE_RATE = "2/1m"
    client = APIClient()
    assert client.get(ME, HTTP_AUTHORIZATION="Token", REMOTE_ADDR="10.1.2.1").status_code == 401
    assert client.get(ME, HTTP_AUTHORIZATION="Token a b", REMOTE_ADDR="10.1.2.1").status_code == 401
    assert_throttled(with_token("pdm_x", "10.1.2.1"))


def test_the_address_may_try_again_after_the_window(settings, alice):
    settings.PODIUM_TOKEN_FAILURE_RATE = "2/2s"
    key = make_api_token(alice)
    assert [with_token("pdm_wrong", "10.1.3.1").status_code for _ in range(2)] == [401, 401]
    assert assert_throttled(with_token(key, "10.1.3.1")) <= 2
    time.sleep(2.2)
    assert with_token(key, "10.1.3.1").status_code == 200


def test_a_throttled_token_request_for_an_html_page_of_the_api_is_no_server_error(settings):
    """The browsable API renders a refused request again; the refusal must not recur as a 500."""
    settings.PODIUM_TOKEN_FAILURE_RATE = "1/1m"
    with_token("pdm_wrong", "10.1.4.1")
    answer = APIClient().get(
        ME, HTTP_AUTHORIZATION="Token pdm_x", HTTP_ACCEPT="text/html", REMOTE_ADDR="10.1.4.1"
    )
    assert answer.status_code == 429 and answer["Retry-After"]

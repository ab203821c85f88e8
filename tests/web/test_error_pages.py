"""The site's own error answers with DEBUG off: pages in the site's style, JSON under /api/,
never Django's debug pages (which list the whole URLconf); the API's index; static files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.factories.competitions import make_competition

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False


def assert_site_page(response, status: int, *texts: str):
    body = response.content.decode()
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert 'data-testid="error-page"' in body and "Podium" in body
    assert "URLconf" not in body and "Traceback" not in body and "settings" not in body.lower()
    for text in texts:
        assert text in body, text


def assert_json_error(response, status: int, *texts: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) >= {"detail"} and "URLconf" not in body["detail"]
    for text in texts:
        assert text in body["detail"], text
    return body


def test_an_unknown_page_is_the_sites_404():
    assert_site_page(Client().get("/no/such/page/"), 404, "Not found", "There is no page at this address.")


def test_a_views_404_says_what_is_missing():
    assert_site_page(Client().get("/c/no-such-cup/"), 404, "No such competition")


def test_an_unknown_api_url_answers_json():
    assert_json_error(
        Client().get("/api/no/such/thing/"), 404, "No API resource at /api/no/such/thing/", "/api/"
    )
    assert_json_error(Client().post("/api/nothing-here"), 404)
    assert_json_error(Client().get("/api/competitions/no-such-cup/"), 404)


@pytest.mark.urls("tests.web.crash_urls")
def test_a_crash_is_the_sites_500_page_or_json_under_the_api():
    client = Client(raise_request_exception=False)
    assert_site_page(client.get("/crash/"), 500, "Server error", "The error was logged")
    body = assert_json_error(client.get("/api/crash/"), 500, "The error was logged")
    assert "a bug in a view" not in str(body)


def test_a_bad_request_is_a_page_or_json_and_does_not_echo_settings():
    assert_site_page(Client().get("/", HTTP_HOST="evil.example"), 400, "Bad request")
    body = assert_json_error(Client().get("/api/", HTTP_HOST="evil.example"), 400)
    assert "ALLOWED_HOSTS" not in str(body) and "evil.example" not in str(body)


def test_a_refused_download_says_why_and_how_on_a_page(alice):
    competition = make_competition()
    client = Client()
    client.force_login(alice)
    refused = client.get(f"/c/{competition.slug}/data/train.csv")
    assert_site_page(
        refused,
        403,
        f"Join {competition.title} and accept its rules to download train.csv",
        "Read the rules and join",
    )
    assert f'href="/c/{competition.slug}/rules/"' in refused.content.decode()


def test_a_permission_denied_shows_its_reason_on_the_sites_403(alice):
    from django.core.exceptions import PermissionDenied
    from django.test import RequestFactory

    from podium.errors import permission_denied

    request = RequestFactory().get("/somewhere/")
    request.user = alice
    response = permission_denied(request, PermissionDenied("Only the owner may see this."))
    assert_site_page(response, 403, "Not allowed", "Only the owner may see this.")
    api = permission_denied(RequestFactory().get("/api/x/"), PermissionDenied("Only the owner."))
    assert_json_error(api, 403, "Only the owner.")


def test_the_api_index_links_the_resources_the_schema_and_the_docs():
    response = Client().get("/api/")
    assert response.status_code == 200
    links = response.json()
    assert set(links) >= {"competitions", "datasets", "schema", "docs"}
    assert links["competitions"] == "http://testserver/api/competitions/"
    for name in ("competitions", "datasets", "schema", "docs"):
        assert Client().get(links[name].removeprefix("http://testserver")).status_code == 200, name


def test_static_files_are_served_with_debug_off():
    response = Client().get("/static/web/css/site.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])


@pytest.mark.parametrize(("value", "debug"), [(None, "False"), ("0", "False"), ("1", "True")])
def test_debug_is_off_unless_podium_debug_is_set(value, debug):
    """`make run` (podium.devserver) passes the environment on: DEBUG is what settings say."""
    env = {k: v for k, v in os.environ.items() if k != "PODIUM_DEBUG"}
    if value is not None:
        env["PODIUM_DEBUG"] = value
    env.update(DJANGO_SETTINGS_MODULE="podium.settings", PODIUM_ENV="development")
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == debug

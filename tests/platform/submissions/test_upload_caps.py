"""Request bodies past a limit: capped while they stream in, on the API and the Submit tab,
answered as JSON with the limit to API clients and as a readable page to people; a chunked
body (no Content-Length) is read and capped through a real gunicorn, not taken for empty."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import httpx
import pytest

from podium.submissions.models import Submission
from tests.factories.submissions import predictions_csv

pytestmark = pytest.mark.django_db

TOO_BIG = 11 * 1024 * 1024  # past DATA_UPLOAD_MAX_MEMORY_SIZE (10 MiB)


def intake(competition) -> str:
    return f"/api/competitions/{competition.slug}/submissions/"


def assert_refused_as_json(response, status: int, limit: int):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["limit"] == limit and f"{limit:,} bytes" in body["detail"]
    assert Submission.objects.count() == 0


def test_an_oversized_config_field_is_json_413_with_the_limit(competition, alice_api, settings):
    response = alice_api.post(intake(competition), {"config": "x" * TOO_BIG}, format="multipart")
    assert_refused_as_json(response, 413, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def test_an_oversized_json_body_is_json_413_with_the_limit(competition, alice_api, settings):
    body = json.dumps({"config": "x" * TOO_BIG})
    response = alice_api.post(intake(competition), body, content_type="application/json")
    assert_refused_as_json(response, 413, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def test_too_many_fields_is_json_400_with_the_limit(competition, alice_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = {f"f{i}": "1" for i in range(20)}
    response = alice_api.post(intake(competition), fields, format="multipart")
    assert response.status_code == 400 and response.json()["limit"] == 10


def test_a_request_refused_before_any_view_is_json_under_api(client):
    # DisallowedHost is refused by Django itself: the API's clients still read JSON.
    response = client.get("/api/competitions/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_a_file_past_the_cap_is_json_413_with_the_limit(competition, alice_api, settings):
    settings.PODIUM_MAX_SUBMISSION_BYTES = 1000
    upload = io.BytesIO(predictions_csv(competition) * 20)
    upload.name = "p.csv"
    response = alice_api.post(intake(competition), {"file": upload}, format="multipart")
    assert_refused_as_json(response, 413, 1000)


# --- the Submit tab ---------------------------------------------------------------


@pytest.fixture
def alice_browser(client, alice, competition):
    client.force_login(alice)
    return client


@pytest.fixture
def upload_tmp(settings, tmp_path) -> Path:
    """Where Django spools uploads past FILE_UPLOAD_MAX_MEMORY_SIZE, for these tests."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    return folder


def submit_page(competition) -> str:
    return f"/c/{competition.slug}/submit/"


def test_the_submit_tab_stops_storing_a_file_at_the_cap(alice_browser, competition, settings, upload_tmp):
    settings.PODIUM_MAX_SUBMISSION_BYTES = 256 * 1024
    big = io.BytesIO(b"id,target\n" + b"1,setosa\n" * (4 * 1024 * 1024 // 9))
    big.name = "predictions.csv"
    response = alice_browser.post(
        submit_page(competition), {"kind": "predictions", "file": big, "description": "big"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "larger than the limit of 262,144 bytes" in page
    # The file was dropped at the cap while the body streamed: no handler kept it, so no
    # temporary file of its size ever existed, and nothing is left behind.
    assert "file" not in response.wsgi_request.FILES
    assert response.wsgi_request.POST["description"] == "big"
    assert sum(p.stat().st_size for p in upload_tmp.rglob("*") if p.is_file()) == 0
    assert Submission.objects.count() == 0


def test_the_submit_tab_still_checks_csrf(alice, competition):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post(submit_page(competition), {"kind": "config", "config": "version: 1"})
    assert response.status_code == 403
    assert Submission.objects.count() == 0


def test_an_oversized_config_on_the_submit_tab_is_a_readable_page(alice_browser, competition, settings):
    response = alice_browser.post(submit_page(competition), {"kind": "config", "config": "x" * TOO_BIG})
    assert response.status_code == 413 and response["Content-Type"].startswith("text/html")
    assert (
        f"larger than the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
        in response.content.decode()
    )
    assert 'data-testid="submit-error"' in response.content.decode()
    assert Submission.objects.count() == 0


def test_an_oversized_config_sent_to_the_live_check_is_a_readable_page(alice_browser, competition, settings):
    response = alice_browser.post(f"/c/{competition.slug}/submit/validate/", {"config": "x" * TOO_BIG})
    assert response.status_code == 413 and response["Content-Type"].startswith("text/html")
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in response.content.decode()


# --- chunked bodies through real servers -----------------------------------------------


def chunks(payload: bytes, size: int = 8192):
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def multipart(fields: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "podium-test-boundary"
    parts = []
    for name, (filename, content) in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def gunicorn(transactional_db, settings, tmp_path):
    """The site under gunicorn (which decodes chunked bodies), on this test's database."""
    from django.db import connection

    from tests.e2e.harness import Platform, database_url

    platform = Platform(
        tmp=tmp_path,
        db_url=database_url(connection.settings_dict),
        broker_url="filesystem://",
        cache_url="locmem://",
        media_root=settings.MEDIA_ROOT,
        extra_env={"PODIUM_MAX_SUBMISSION_BYTES": "4096", "PODIUM_MAX_CHUNKED_BODY_BYTES": "65536"},
    )
    platform.start_web(workers=1, threads=2)
    yield platform
    platform.stop()


@pytest.fixture
def token(alice, competition) -> dict:
    from tests.factories.accounts import make_api_token

    make_api_token(alice, "chunked-key-0123456789")
    return {"Authorization": "Token chunked-key-0123456789"}


@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_is_read_and_capped_under_gunicorn(gunicorn, competition, token):
    url = gunicorn.url + intake(competition)
    csv = predictions_csv(competition)
    body, content_type = multipart({"file": ("p.csv", csv)})
    with httpx.Client(headers={**token, "Content-Type": content_type}, timeout=60) as client:
        accepted = client.post(url, content=chunks(body))
        assert accepted.status_code == 201, accepted.text  # read, not taken for an empty body
        assert accepted.request.headers.get("Transfer-Encoding") == "chunked"

        past_the_file_cap, _ = multipart({"file": ("p.csv", csv * 10)})
        refused = client.post(url, content=chunks(past_the_file_cap))
        assert refused.status_code == 413 and refused.json()["limit"] == 4096

        endless = client.post(url, content=chunks(b"x" * 1024 * 1024))
        assert endless.status_code == 413 and endless.json()["limit"] == 65536
    assert Submission.objects.count() == 1


@pytest.fixture
def runserver():
    """The site under Django's own development server (`manage.py runserver`), in a thread."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    from podium.wsgi import application

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    httpd.set_app(application)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def test_a_chunked_body_is_411_where_the_server_cannot_read_it(runserver, competition):
    # runserver hands the application no chunked body (and no wsgi.input_terminated).
    body, content_type = multipart({"file": ("p.csv", predictions_csv(competition))})
    with httpx.Client(headers={"Content-Type": content_type}, timeout=60) as client:
        response = client.post(runserver + intake(competition), content=chunks(body))
    assert response.status_code == 411 and "Content-Length" in response.json()["detail"]
    assert Submission.objects.count() == 0

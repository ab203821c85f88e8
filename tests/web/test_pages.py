"""Page-level rules through Django's test client (fast; the browser tests cover the rest):
who may reach what, and that list pages do not issue a query per row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.web.factories import competition

pytestmark = pytest.mark.django_db


def _join(comp, user):
    from podium.competitions.services import competition_join

    competition_join(competition=comp, user=user)


def test_anonymous_is_sent_to_log_in_for_participant_pages(client):
    competition()
    for url in (
        "/c/iris-cup/submit/",
        "/c/iris-cup/submissions/",
        "/c/iris-cup/data/train.csv",
        "/accounts/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    assert client.post("/c/iris-cup/submit/validate/", {"config": "version: 1"}).status_code == 302


def test_public_pages_work_for_anonymous_visitors(client):
    competition()
    for url in ("/", "/c/iris-cup/", "/c/iris-cup/data/", "/c/iris-cup/rules/", "/c/iris-cup/leaderboard/"):
        assert client.get(url).status_code == 200, url


def test_hidden_labels_and_unjoined_downloads(client, alice, bob):
    comp = competition()
    _join(comp, alice)
    client.force_login(bob)
    assert client.get("/c/iris-cup/data/train.csv").status_code == 403
    client.force_login(alice)
    assert client.get("/c/iris-cup/data/train.csv").status_code == 200
    assert client.get("/c/iris-cup/data/test_labels.csv").status_code == 404
    page = client.get("/c/iris-cup/data/").content.decode()
    assert "test_labels" not in page


def test_drafts_are_staff_only(client, alice, admin_user):
    competition(slug="secret", title="Secret", is_published=False)
    assert "Secret" not in client.get("/").content.decode()
    assert client.get("/c/secret/").status_code == 404
    client.force_login(alice)
    assert client.get("/c/secret/").status_code == 404
    client.force_login(admin_user)
    assert client.get("/c/secret/").status_code == 200


def test_staff_page_is_for_staff(client, alice):
    assert client.get("/staff/competitions/new/").status_code == 302
    client.force_login(alice)
    response = client.get("/staff/competitions/new/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_live_validation_names_the_line(client, alice):
    comp = competition(budget_epochs=5)
    _join(comp, alice)
    client.force_login(alice)
    text = (
        "version: 1\nmodel:\n  layers:\n    - linear: {units: 4}\n    - warp_drive: {}\ntrain:\n  epochs: 3\n"
    )
    html = client.post("/c/iris-cup/submit/validate/", {"config": text}).content.decode()
    assert "line 5" in html and "warp_drive" in html
    html = client.post("/c/iris-cup/submit/validate/", {"config": "model: [unclosed"}).content.decode()
    assert 'data-error-lines="[1]"' in html
    ok = "version: 1\nmodel:\n  layers:\n    - linear: {units: auto}\ntrain:\n  epochs: 3\n"
    assert "Valid config" in client.post("/c/iris-cup/submit/validate/", {"config": ok}).content.decode()


def test_a_refused_config_is_shown_beside_the_editor_and_nothing_is_stored(client, alice):
    from podium.submissions.models import Submission

    comp = competition(budget_epochs=5)
    _join(comp, alice)
    client.force_login(alice)
    text = "version: 1\nmodel:\n  layers:\n    - linear: {units: auto}\ntrain:\n  epochs: 50\n"
    html = client.post("/c/iris-cup/submit/", {"kind": "config", "config": text}).content.decode()
    assert "line 6" in html and "train.epochs" in html
    assert text.split("\n")[0] in html  # the text is kept in the editor
    assert not Submission.objects.exists()


def test_lists_do_not_query_per_row(client, alice):
    competition()
    client.force_login(alice)
    client.get("/")  # warm caches (sessions, content types)
    with CaptureQueriesContext(connection) as one:
        client.get("/")
    for i in range(5):
        competition(slug=f"extra-{i}", title=f"Extra {i}")
    with CaptureQueriesContext(connection) as six:
        client.get("/")
    assert len(six) == len(one)


def test_submit_page_shows_the_daily_limit(client, alice):
    comp = competition(daily_limit=3)
    _join(comp, alice)
    client.force_login(alice)
    html = client.get("/c/iris-cup/submit/").content.decode()
    assert "Today: <strong>0 of 3</strong>" in html


def test_a_failed_entry_shows_its_reason_and_the_rows_stop_polling(client, alice):
    from podium.submissions.services import submission_fail
    from tests.web.entries import config_entry

    comp = competition()
    _join(comp, alice)
    entry = config_entry(comp, alice, epochs=1)
    client.force_login(alice)
    rows = client.get("/c/iris-cup/submissions/rows/").content.decode()
    assert 'hx-trigger="every 2s"' in rows and "epoch 1 / 3" in rows
    submission_fail(submission_id=entry.pk, attempt=entry.attempt, message="CUDA out of memory in layer 2")
    rows = client.get("/c/iris-cup/submissions/rows/").content.decode()
    assert "CUDA out of memory in layer 2" in rows and "Failed" in rows
    assert "hx-trigger" not in rows


def test_form_errors_are_tied_to_their_fields(client):
    html = client.post("/accounts/signup/", {"username": "", "email": "bad"}).content.decode()
    assert 'id="id_email_error"' in html
    assert 'aria-describedby="id_email_helptext id_email_error"' in html or "aria-invalid" in html

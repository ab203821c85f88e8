"""The participant API: intake, validation with nothing stored, reads by persona, cancel."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from podium.submissions.models import EpochMetric, Status, Submission
from podium.submissions.tokens import worker_token_read
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import TINY_CONFIG, competition_test_ids, make_submission, predictions_csv

pytestmark = pytest.mark.django_db


def submit(client, competition, *, csv: bytes | None = None, config=None, description="", fmt="multipart"):
    data: dict = {"description": description}
    if csv is not None:
        data["file"] = io.BytesIO(csv)
        data["file"].name = "predictions.csv"
    if config is not None:
        data["config"] = config
    return client.post(f"/api/competitions/{competition.slug}/submissions/", data, format=fmt)


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file() and "submissions" in p.parts]


def assert_nothing_stored(settings, before: int = 0):
    assert Submission.objects.count() == before
    assert stored_files(settings) == []


# --- intake -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # a real commit sends the task
def test_prediction_file_is_accepted_and_sent_to_the_scorer(competition, alice_api, broker, settings):
    response = submit(alice_api, competition, csv=predictions_csv(competition), description="all setosa")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "predictions" and body["status"] == "scoring" and body["attempt"] == 1
    assert body["description"] == "all setosa" and body["user"] == "alice"
    assert body["limits"]["daily"] == {
        "allowed": 5,
        "used": 1,
        "remaining": 4,
        "resets_at": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
    }
    assert broker.take("scoring") == [("podium.submissions.tasks.score_submission", [body["id"], 1])]
    assert len(stored_files(settings)) == 1


def test_a_prediction_entry_costs_seven_queries_with_a_token(competition, alice, broker):
    """The intake takes a hundred entries a second only while it stays this lean: token and
    user, competition and dataset, entrant, the competition's phases (which one takes the
    entry, with its window and limits), limit lock (PostgreSQL; SQLite's BEGIN IMMEDIATE
    locks), usage count, insert."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from tests.factories.accounts import make_api_token

    make_api_token(alice, "alice-key")
    client = APIClient(HTTP_AUTHORIZATION="Token alice-key")
    body = predictions_csv(competition)
    assert submit(client, competition, csv=body).status_code == 201  # and last_used_at is set
    with CaptureQueriesContext(connection) as ctx:
        assert submit(client, competition, csv=body).status_code == 201
    statements = [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) == (7 if connection.features.has_select_for_update else 6), "\n".join(
        s[:90] for s in statements
    )


@pytest.mark.django_db(transaction=True)
def test_model_config_is_queued_for_training_with_a_token(competition, alice_api, broker):
    response = submit(alice_api, competition, config=TINY_CONFIG)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "config" and body["status"] == "queued"
    ((name, (sid, attempt, token)),) = broker.take("gpu")
    assert (name, sid, attempt) == ("workers.tasks.train_submission", body["id"], 1)
    grant = worker_token_read(token)
    assert (grant.submission_id, grant.attempt) == (body["id"], 1)
    stored = Submission.objects.get(pk=body["id"])
    assert stored.config_text == TINY_CONFIG and stored.config["version"] == 1
    assert broker.take("scoring") == []


def test_config_as_uploaded_file_and_as_json(competition, alice_api, broker):
    upload = io.BytesIO(TINY_CONFIG.encode())
    upload.name = "model.yaml"
    response = alice_api.post(
        f"/api/competitions/{competition.slug}/submissions/", {"config": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    import yaml

    as_json = alice_api.post(
        f"/api/competitions/{competition.slug}/submissions/",
        {"config": yaml.safe_load(TINY_CONFIG)},
        format="json",
    )
    assert as_json.status_code == 201, as_json.content
    assert len(broker.take("gpu")) == 2


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda rows: rows[:-2], "no prediction"),
        (lambda rows: [*rows, "999999,setosa"], "999999"),
        (lambda rows: [*rows[:-1], rows[1]], "duplicate"),
        (lambda rows: [rows[0], rows[1].replace("setosa", "tulip"), *rows[2:]], "tulip"),
        (lambda rows: ["ident,target", *rows[1:]], "header"),
    ],
    ids=["missing-ids", "unknown-id", "duplicate-id", "bad-label", "bad-header"],
)
def test_invalid_csv_is_refused_with_every_problem_and_nothing_stored(
    competition, alice_api, broker, settings, mutate, expected
):
    rows = predictions_csv(competition).decode().splitlines()
    response = submit(alice_api, competition, csv=("\n".join(mutate(rows)) + "\n").encode())
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["problems"], body
    assert expected in str(body).lower() or expected in str(body)
    assert_nothing_stored(settings)
    assert broker.take("scoring") == []


def test_csv_problems_name_rows_and_are_capped_at_twenty(competition, alice_api, settings):
    ids = competition_test_ids(competition)
    csv = "id,target\n" + "".join(f"{i},tulip\n" for i in ids)
    body = submit(alice_api, competition, csv=csv.encode()).json()
    assert len(body["problems"]) == 20
    assert all("row" in p for p in body["problems"])
    assert_nothing_stored(settings)


def test_non_utf8_csv_is_refused(competition, alice_api, settings):
    csv = predictions_csv(competition).replace(b"setosa", "sétosa".encode("latin-1"), 1)
    response = submit(alice_api, competition, csv=csv)
    assert response.status_code == 400
    assert "utf-8" in str(response.json()).lower()
    assert_nothing_stored(settings)


def test_size_cap_is_checked_while_streaming(competition, alice_api, settings):
    settings.PODIUM_MAX_SUBMISSION_BYTES = 200
    csv = predictions_csv(competition)
    assert 200 < len(csv) < 200 + 64 * 1024  # past the cap, but not by the Content-Length shortcut
    response = submit(alice_api, competition, csv=csv)
    assert response.status_code == 413
    assert "200 bytes" in response.json()["detail"] and response.json()["limit"] == 200
    assert_nothing_stored(settings)
    huge = csv * 200
    assert submit(alice_api, competition, csv=huge).status_code == 413
    assert_nothing_stored(settings)


def test_capped_handler_stops_at_the_chunk_that_passes_the_cap():
    from podium.submissions.uploads import RefusingUploadHandler, UploadTooLarge

    handler = RefusingUploadHandler(None, max_bytes=100)
    handler.new_file("file", "p.csv", "text/csv", None)
    assert handler.receive_data_chunk(b"x" * 60, 0) == b"x" * 60
    with pytest.raises(UploadTooLarge):
        handler.receive_data_chunk(b"x" * 60, 60)


@pytest.mark.parametrize(
    "config, where",
    [
        (
            "version: 1\nmodel: {layers: [{linear: {units: 8}}]}\ntrain: {epochs: 2, batch_size: 16, bogus: 1}\n",
            "bogus",
        ),
        ("version: 1\nmodel: [unclosed\n", "yaml"),
        (TINY_CONFIG.replace("epochs: 2", "epochs: 500"), "epochs"),
        (TINY_CONFIG.replace("- linear: {units: 8}", "- conv2d: {channels: 8, kernel: 3}"), "conv2d"),
    ],
    ids=["unknown-key", "bad-yaml", "over-epoch-budget", "conv-on-tabular"],
)
def test_invalid_config_is_refused_with_paths_and_nothing_stored(
    competition, alice_api, broker, settings, config, where
):
    response = submit(alice_api, competition, config=config)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["problems"]
    assert where in str(body).lower()
    assert_nothing_stored(settings)
    assert broker.take("gpu") == []


def test_config_over_the_parameter_budget_is_refused(alice, alice_api, settings, broker):
    competition = make_competition(slug="tiny-budget", budget_params=50)
    make_participations(competition, alice)
    response = submit(alice_api, competition, config=TINY_CONFIG)
    assert response.status_code == 400, response.content
    assert "parameters" in str(response.json())
    assert_nothing_stored(settings)


def test_exactly_one_of_file_or_config(competition, alice_api, settings):
    both = submit(alice_api, competition, csv=predictions_csv(competition), config=TINY_CONFIG)
    neither = submit(alice_api, competition)
    assert both.status_code == neither.status_code == 400
    assert "exactly one" in both.json()["detail"]
    assert_nothing_stored(settings)


def test_kinds_the_competition_does_not_accept(alice, alice_api, settings):
    competition = make_competition(slug="configs-only", accepts_predictions=False)
    make_participations(competition, alice)
    response = submit(alice_api, competition, csv=predictions_csv(competition))
    assert response.status_code == 400
    assert "does not accept prediction files" in response.json()["detail"]
    assert_nothing_stored(settings)


def test_only_joined_participants_inside_the_window(
    competition, charlie_api, anon_api, alice, alice_api, settings
):
    csv = predictions_csv(competition)
    refused = submit(charlie_api, competition, csv=csv)
    assert refused.status_code == 403 and "not joined" in refused.json()["detail"]
    assert submit(anon_api, competition, csv=csv).status_code in (401, 403)
    competition.ends_at = timezone.now() - timedelta(minutes=1)
    competition.save()
    closed = submit(alice_api, competition, csv=csv)
    assert closed.status_code == 403 and "closed" in closed.json()["detail"]
    competition.starts_at = timezone.now() + timedelta(hours=1)
    competition.ends_at = timezone.now() + timedelta(days=1)
    competition.save()
    early = submit(alice_api, competition, csv=csv)
    assert early.status_code == 403 and "opens" in early.json()["detail"]
    assert_nothing_stored(settings)
    assert submit(alice_api, make_competition_draft(), csv=csv).status_code == 404


def make_competition_draft():
    return make_competition(slug="draft", is_published=False)


# --- reads ---------------------------------------------------------------------------


def _entries(competition, user, n, **fields):
    return [make_submission(competition, user, attempt=1, **fields) for _ in range(n)]


def test_list_shows_own_entries_with_filters_and_pagination(
    competition, alice, bob, alice_api, bob_api, admin_api, anon_api
):
    _entries(competition, alice, 3, status=Status.SCORED)
    _entries(competition, alice, 2, status=Status.FAILED)
    _entries(competition, bob, 1, status=Status.SCORED)
    url = f"/api/competitions/{competition.slug}/submissions/"
    mine = alice_api.get(url).json()
    assert mine["count"] == 5 and {e["user"] for e in mine["results"]} == {"alice"}
    assert bob_api.get(url).json()["count"] == 1
    assert admin_api.get(url).json()["count"] == 6
    assert anon_api.get(url).status_code in (401, 403)
    assert alice_api.get(url, {"status": "failed"}).json()["count"] == 2
    assert alice_api.get(url, {"kind": "config"}).json()["count"] == 0
    assert alice_api.get(url, {"status": "nonsense"}).status_code == 400
    paged = alice_api.get(url, {"page": 3, "page_size": 2}).json()
    assert paged["count"] == 5 and len(paged["results"]) == 1 and paged["next"] is None
    assert alice_api.get(url, {"page": 9}).status_code == 404


def test_list_query_count_does_not_grow_with_entries(
    competition, alice, alice_api, django_assert_max_num_queries
):
    url = f"/api/competitions/{competition.slug}/submissions/"
    _entries(competition, alice, 2, status=Status.SCORED)
    with django_assert_max_num_queries(8) as few:
        alice_api.get(url)
    _entries(competition, alice, 30, status=Status.SCORED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert alice_api.get(url).json()["count"] == 32


def test_detail_by_persona_with_epochs_and_hidden_private_score(
    competition, alice, alice_api, bob_api, anon_api, admin_api, django_assert_max_num_queries
):
    (entry,) = _entries(
        competition,
        alice,
        1,
        status=Status.SCORED,
        public_score=0.8,
        private_score=0.7,
        public_ci_low=0.7,
        public_ci_high=0.9,
    )
    EpochMetric.objects.create(
        submission=entry, attempt=1, epoch=1, data={"train_loss": 1.0, "grad_norms": {"0": 2.0}}
    )
    url = f"/api/submissions/{entry.pk}/"
    with django_assert_max_num_queries(4):
        body = alice_api.get(url).json()
    assert body["public_score"] == 0.8 and body["public_ci"] == [0.7, 0.9]
    assert body["private_score"] is None
    assert body["epochs"] == [{"epoch": 1, "train_loss": 1.0, "grad_norms": {"0": 2.0}}]
    assert bob_api.get(url).status_code == 404
    assert anon_api.get(url).status_code == 404
    assert admin_api.get(url).status_code == 200
    competition.ends_at = competition.private_revealed_at = timezone.now()  # closed and revealed
    competition.save()
    assert alice_api.get(url).json()["private_score"] == 0.7


def test_predictions_download_only_for_the_owner(
    competition, alice_api, bob_api, anon_api, admin_api, broker
):
    csv = predictions_csv(competition)
    entry_id = submit(alice_api, competition, csv=csv).json()["id"]
    url = f"/api/submissions/{entry_id}/predictions/"
    response = alice_api.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == csv
    assert bob_api.get(url).status_code == 404
    assert anon_api.get(url).status_code == 404
    assert admin_api.get(url).status_code == 200


# --- cancel ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", [Status.CREATED, Status.QUEUED, Status.RUNNING, Status.SCORING])
def test_cancel_works_in_every_non_final_state_and_is_idempotent(competition, alice, alice_api, state):
    (entry,) = _entries(competition, alice, 1, status=state)
    url = f"/api/submissions/{entry.pk}/cancel/"
    first = alice_api.post(url)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = alice_api.post(url)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_cancel_by_persona_and_final_states(competition, alice, alice_api, bob_api, anon_api, admin_api):
    queued, done = _entries(competition, alice, 1, status=Status.QUEUED) + _entries(
        competition, alice, 1, status=Status.SCORED
    )
    assert bob_api.post(f"/api/submissions/{queued.pk}/cancel/").status_code == 404
    assert anon_api.post(f"/api/submissions/{queued.pk}/cancel/").status_code in (401, 403, 404)
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED
    assert admin_api.post(f"/api/submissions/{queued.pk}/cancel/").status_code == 200
    refused = alice_api.post(f"/api/submissions/{done.pk}/cancel/")
    assert refused.status_code == 409 and "already scored" in refused.json()["detail"]


def test_probabilities_must_be_valid_for_log_loss(alice, alice_api, settings):
    competition = make_competition(slug="iris-logloss", metric="log_loss")
    make_participations(competition, alice)
    ids = competition_test_ids(competition)
    rows = [
        f"{i},0.5,0.4,0.3" if n == 0 else f"{i},1.5,-0.5,0" if n == 1 else f"{i},0.2,0.3,0.5"
        for n, i in enumerate(ids)
    ]
    response = submit(
        alice_api, competition, csv=("id,setosa,versicolor,virginica\n" + "\n".join(rows) + "\n").encode()
    )
    assert response.status_code == 400, response.content
    problems = response.json()["problems"]
    assert {p.get("row") for p in problems} >= {2, 3}
    assert_nothing_stored(settings)
    good = "id,setosa,versicolor,virginica\n" + "".join(f"{i},0.2,0.3,0.5\n" for i in ids)
    assert submit(alice_api, competition, csv=good.encode()).status_code == 201


def test_regression_values_must_be_finite_numbers(alice, alice_api, settings):

    competition = make_competition("diabetes-cup", dataset="diabetes", metric="rmse")
    make_participations(competition, alice)
    ids = competition_test_ids(competition)
    rows = [f"{i},{'nan' if n == 0 else 'abc' if n == 1 else '12.5'}" for n, i in enumerate(ids)]
    response = submit(alice_api, competition, csv=("id,target\n" + "\n".join(rows) + "\n").encode())
    assert response.status_code == 400, response.content
    assert {p.get("row") for p in response.json()["problems"]} >= {2, 3}
    assert_nothing_stored(settings)


def test_empty_file_is_refused(competition, alice_api, settings):
    response = submit(alice_api, competition, csv=b"")
    assert response.status_code == 400
    assert "empty" in str(response.json()).lower()
    assert_nothing_stored(settings)


def test_pretraining_on_a_dataset_the_competition_does_not_allow(competition, alice_api, settings):
    config = TINY_CONFIG + "pretrain:\n  dataset: wine\n  epochs: 1\n"
    response = submit(alice_api, competition, config=config)
    assert response.status_code == 400, response.content
    assert "pretrain" in str(response.json()).lower()
    assert_nothing_stored(settings)


def test_a_refused_header_is_echoed_cut_short(competition, alice_api, settings):
    """A 4 MB header line once came back whole in the error body."""
    header = "id," + ",".join(f"column_{i}_" + "x" * 300 for i in range(13_000))
    assert len(header) > 4_000_000
    response = submit(alice_api, competition, csv=f"{header}\n1,2\n".encode())
    assert response.status_code == 400
    assert len(response.content) < 2_000, len(response.content)
    message = response.json()["problems"][0]["message"]
    assert "the header must be" in message and f"({len(header):,} characters)" in message
    assert_nothing_stored(settings)


def test_echoed_values_and_locations_are_cut_to_a_bound():
    from common.problems import MAX_ECHO_CHARS, Problem, echo

    long = "é" * 10_000
    assert echo("short") == "'short'"
    assert echo(long) == repr("é" * MAX_ECHO_CHARS) + "… (10,000 characters)"
    problem = Problem("unknown id", column=long, id=long, row=2)
    assert len(str(problem)) < 3 * MAX_ECHO_CHARS + 100
    assert problem.as_dict()["column"].endswith("… (10,000 characters)")

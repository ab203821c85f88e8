"""Where an entry trained and how its run ended (`common.protocol.RunReport`, posted by the
worker with its predictions or its failure), and the config validator's warnings: stored on
the entry, answered by the API and shown on the entry and Submit pages, to those who may see
the entry."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.test import APIClient

from podium.submissions.models import Status, Submission
from tests.factories.submissions import predictions_csv

pytestmark = pytest.mark.django_db

REPORT = {
    "environment": {
        "torch": "2.13.0",
        "device": "cpu",
        "threads": 3,
        "precision": "fp32",
        "precision_asked": "bf16",
    },
    "stopped_reason": "diverged",
    "stop_message": "training diverged at epoch 7 (train): ... Training stopped early",
    "notes": [
        "precision bf16 was asked for, but it applies on a CUDA GPU only: this run on cpu trained in fp32"
    ],
}

BATCHNORM_OF_TWO = """\
version: 1
model:
  layers: [linear: 16, batchnorm, relu, linear: auto]
train:
  epochs: 2
  batch_size: 2
"""


def worker(token: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Worker {token}")
    return client


def url(submission_id: int, action: str) -> str:
    return f"/api/worker/submissions/{submission_id}/{action}/"


def claimed(queue_config_entry, competition, user):
    submission, token = queue_config_entry(competition, user)
    w = worker(token)
    assert w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 200
    return submission, w


def post_predictions(w, submission, competition, report):
    body = {"attempt": 1, "file": io.BytesIO(predictions_csv(competition))}
    if report is not None:
        body["report"] = report if isinstance(report, str) else json.dumps(report)
    return w.post(url(submission.pk, "predictions"), body, format="multipart")


def test_the_report_travels_with_the_predictions_and_is_stored(
    competition, alice, queue_config_entry, broker
):
    submission, w = claimed(queue_config_entry, competition, alice)
    assert post_predictions(w, submission, competition, REPORT).status_code == 202
    submission.refresh_from_db()
    assert submission.status == Status.SCORING
    assert submission.training_report == REPORT


def test_predictions_without_a_report_still_go_to_the_scorer(competition, alice, queue_config_entry, broker):
    submission, w = claimed(queue_config_entry, competition, alice)
    assert post_predictions(w, submission, competition, None).status_code == 202
    submission.refresh_from_db()
    assert submission.status == Status.SCORING and submission.training_report is None


@pytest.mark.parametrize(
    "report, where",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({**REPORT, "environment": {**REPORT["environment"], "threads": 0}}), "threads"),
        (json.dumps({**REPORT, "environment": {**REPORT["environment"], "precision": "fp8"}}), "precision"),
        (json.dumps({**REPORT, "notes": ["x" * 501]}), "notes"),
    ],
)
def test_a_bad_report_is_refused_and_nothing_is_stored(
    competition, alice, queue_config_entry, broker, report, where
):
    submission, w = claimed(queue_config_entry, competition, alice)
    response = post_predictions(w, submission, competition, report)
    assert response.status_code == 400
    assert where in json.dumps(response.json())
    submission.refresh_from_db()
    assert submission.status == Status.RUNNING and not submission.predictions
    assert submission.training_report is None
    assert broker.take("scoring") == []


def test_a_failure_keeps_the_environment_it_happened_in(competition, alice, queue_config_entry):
    submission, w = claimed(queue_config_entry, competition, alice)
    body = {
        "attempt": 1,
        "message": "training diverged at epoch 1",
        "report": {"environment": REPORT["environment"]},
    }
    assert w.post(url(submission.pk, "fail"), body, format="json").status_code == 200
    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.training_report == {"environment": REPORT["environment"]}


def test_the_report_is_on_the_entry_for_its_owner_and_admins_only(
    competition, alice, bob, queue_config_entry, broker, alice_api, bob_api, admin_api
):
    submission, w = claimed(queue_config_entry, competition, alice)
    post_predictions(w, submission, competition, REPORT)
    for client in (alice_api, admin_api):
        body = client.get(f"/api/submissions/{submission.pk}/").json()
        assert body["training_report"] == REPORT
    assert bob_api.get(f"/api/submissions/{submission.pk}/").status_code == 404
    assert APIClient().get(f"/api/submissions/{submission.pk}/").status_code == 404


def test_the_entry_page_shows_the_environment_the_fallback_and_the_early_stop(
    client, competition, alice, bob, queue_config_entry, broker
):
    submission, w = claimed(queue_config_entry, competition, alice)
    post_predictions(w, submission, competition, REPORT)
    client.force_login(alice)
    html = client.get(f"/submissions/{submission.pk}/").content.decode()
    assert 'data-testid="run-device">cpu<' in html and 'data-testid="run-threads">3<' in html
    assert 'data-testid="run-torch">2.13.0<' in html
    assert "bf16 asked for" in html
    assert "Training stopped early" in html and "trained in fp32" in html
    client.force_login(bob)
    assert client.get(f"/submissions/{submission.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_intake_accepts_a_batch_of_two_with_batchnorm_and_warns(competition, alice_api, broker):
    response = alice_api.post(
        f"/api/competitions/{competition.slug}/submissions/", {"config": BATCHNORM_OF_TWO}, format="json"
    )
    assert response.status_code == 201, response.content
    (warning,) = response.json()["config_warnings"]
    assert warning["path"] == "train.batch_size"
    assert "2 rows per batch is too few for model.layers[1].batchnorm" in warning["message"]
    stored = Submission.objects.get(pk=response.json()["id"])
    assert stored.config_warnings == [warning]
    broker.take("gpu")


@pytest.mark.django_db(transaction=True)
def test_a_config_without_a_warning_gets_an_empty_list(competition, alice_api, broker):
    from tests.factories.submissions import TINY_CONFIG

    response = alice_api.post(
        f"/api/competitions/{competition.slug}/submissions/", {"config": TINY_CONFIG}, format="json"
    )
    assert response.status_code == 201 and response.json()["config_warnings"] == []
    broker.take("gpu")


def test_the_submit_page_warns_while_typing_and_after_submitting(client, competition, alice, broker):
    client.force_login(alice)
    html = client.post(
        f"/c/{competition.slug}/submit/validate/", {"config": BATCHNORM_OF_TWO}
    ).content.decode()
    assert "Valid config" in html and 'data-testid="validation-warnings"' in html
    assert "too few for model.layers[1].batchnorm" in html
    page = client.post(
        f"/c/{competition.slug}/submit/", {"kind": "config", "config": BATCHNORM_OF_TWO}, follow=True
    ).content.decode()
    assert "received" in page and "train.batch_size: 2 rows per batch is too few" in page
    entry = Submission.objects.get()
    detail = client.get(f"/submissions/{entry.pk}/").content.decode()
    assert 'data-testid="config-warnings"' in detail and "too few for model.layers[1].batchnorm" in detail
    broker.take("gpu")

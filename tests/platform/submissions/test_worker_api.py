"""The worker callback API: per-attempt tokens, idempotent callbacks, no hidden labels."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from podium.submissions.models import EpochMetric, Status, Submission
from podium.submissions.tokens import SALT, worker_token_make
from tests.factories.submissions import predictions_csv

pytestmark = pytest.mark.django_db


def worker(token: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Worker {token}")
    return client


def url(submission_id: int, action: str) -> str:
    return f"/api/worker/submissions/{submission_id}/{action}/"


def test_claim_gives_the_work_order_and_no_hidden_labels(competition, alice, queue_config_entry):
    submission, token = queue_config_entry(competition, alice)
    response = worker(token).post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    assert response.status_code == 200, response.content
    order = response.json()
    assert order["submission_id"] == submission.pk and order["attempt"] == 1
    assert order["config_text"] == submission.config_text
    assert order["metric"] == {"name": "accuracy", "higher_is_better": True, "needs_proba": False}
    assert order["prediction_format"]["header"] == ["id", "target"]
    assert order["prediction_format"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert order["budget"] == {"epochs": 30, "params": 5_000_000, "seconds": 600, "variants": 1}
    names = {f["name"] for f in order["dataset"]["files"]}
    assert names == {"train.csv", "test.csv", "sample_submission.csv"}
    assert "test_labels.csv" not in order["dataset"]["manifest"]["files"]
    labels = competition.dataset.files.get(name="test_labels.csv").file.open("rb").read().decode()
    # No line of the hidden labels (beyond the shared header) appears anywhere in the answer.
    body = response.content.decode()
    assert "test_labels" not in body
    assert not [line for line in labels.splitlines()[1:] if line in body]
    submission.refresh_from_db()
    assert submission.status == Status.RUNNING and submission.started_at and submission.heartbeat_at
    # Every file the order lists downloads as the participant-facing file it names, never the labels.
    hidden = competition.dataset.files.get(name="test_labels.csv").file.open("rb").read()
    for entry in order["dataset"]["files"]:
        served = b"".join(worker(token).get(entry["path"]).streaming_content)
        assert served == competition.dataset.files.get(name=entry["name"]).file.open("rb").read()
        assert served != hidden and hashlib.sha256(served).hexdigest() == entry["sha256"]


def test_claim_twice_and_stale_attempts_are_refused(competition, alice, queue_config_entry):
    submission, token = queue_config_entry(competition, alice)
    assert worker(token).post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 200
    again = worker(token).post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    assert again.status_code == 409
    assert "running" in again.json()["detail"]


def test_token_for_one_submission_is_refused_for_another(competition, alice, bob, queue_config_entry):
    first, token = queue_config_entry(competition, alice)
    second, _ = queue_config_entry(competition, bob)
    response = worker(token).post(url(second.pk, "claim"), {"attempt": 1}, format="json")
    assert response.status_code == 403
    assert "not for this submission" in response.json()["detail"]
    second.refresh_from_db()
    assert second.status == Status.QUEUED


def test_token_cannot_speak_for_another_attempt(competition, alice, queue_config_entry):
    submission, token = queue_config_entry(competition, alice)
    response = worker(token).post(url(submission.pk, "claim"), {"attempt": 2}, format="json")
    assert response.status_code == 403
    assert "attempt 1" in response.json()["detail"]


def test_expired_token_is_refused(competition, alice, queue_config_entry, settings):
    submission, token = queue_config_entry(competition, alice)
    settings.PODIUM_WORKER_TOKEN_TTL = timedelta(seconds=-1)
    response = worker(token).post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    submission.refresh_from_db()
    assert submission.status == Status.QUEUED


def test_forged_and_missing_tokens_are_refused(competition, alice, queue_config_entry):
    from django.core import signing

    submission, _ = queue_config_entry(competition, alice)
    forged = signing.dumps({"s": submission.pk, "a": 1}, salt=SALT, key="not-the-secret-" * 4)
    assert worker(forged).post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 401
    assert APIClient().post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 401


def test_user_credentials_cannot_post_worker_callbacks(
    competition, alice, alice_api, admin_api, queue_config_entry
):
    from tests.factories.accounts import make_api_token

    submission, _ = queue_config_entry(competition, alice)
    make_api_token(alice, "user-key-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token user-key-123")
    assert client.post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 401
    # Sessions (force-authenticated here) do not count either, not even an admin's.
    assert alice_api.post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 401
    assert (
        admin_api.post(url(submission.pk, "fail"), {"attempt": 1, "message": "x"}, format="json").status_code
        == 401
    )
    submission.refresh_from_db()
    assert submission.status == Status.QUEUED


def test_heartbeat_epochs_and_predictions(competition, alice, queue_config_entry, broker):
    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    assert w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 200
    beat = w.post(url(submission.pk, "heartbeat"), {"attempt": 1}, format="json")
    assert beat.status_code == 200 and beat.json() == {"continue": True}

    data = {"train_loss": 1.0, "val_loss": float("nan"), "grad_norms": {"layers.0": 0.5}}
    body = '{"attempt": 1, "epoch": 1, "data": {"train_loss": 1.0, "val_loss": NaN, "grad_norms": {"layers.0": 0.5}}}'
    first = w.post(url(submission.pk, "epochs"), body, content_type="application/json")
    assert first.status_code == 200, first.content
    repeat = w.post(
        url(submission.pk, "epochs"),
        {"attempt": 1, "epoch": 1, "data": {**data, "val_loss": 9.0}},
        format="json",
    )
    assert repeat.status_code == 200
    stored = EpochMetric.objects.get(submission=submission)
    assert stored.data == {"train_loss": 1.0, "val_loss": None, "grad_norms": {"layers.0": 0.5}}

    csv = predictions_csv(competition)
    upload = w.post(
        url(submission.pk, "predictions"), {"attempt": 1, "file": io.BytesIO(csv)}, format="multipart"
    )
    assert upload.status_code == 202, upload.content
    submission.refresh_from_db()
    assert submission.status == Status.SCORING
    assert submission.predictions.open("rb").read() == csv
    assert broker.take("scoring") == [("podium.submissions.tasks.score_submission", [submission.pk, 1])]

    # A repeated upload (a retry after a lost answer) is a no-op: same file, no second score message.
    again = w.post(
        url(submission.pk, "predictions"), {"attempt": 1, "file": io.BytesIO(csv)}, format="multipart"
    )
    assert again.status_code == 202
    assert broker.take("scoring") == []
    assert Submission.objects.get(pk=submission.pk).predictions.name == submission.predictions.name


def test_several_epochs_in_one_post_are_stored_once_each(competition, alice, queue_config_entry):
    """A fast run's worker sends the epochs that ended while its last post was on its way in
    one request; a retry stores nothing twice, and a post after the attempt ended is refused
    unless it only repeats what was stored."""
    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    records = [{"epoch": e, "data": {"train_loss": 1.0 / e}} for e in (1, 2, 3)]
    answer = w.post(url(submission.pk, "epochs"), {"attempt": 1, "records": records}, format="json")
    assert answer.status_code == 200 and answer.json() == {"ok": True, "stored": 3}, answer.content
    again = w.post(
        url(submission.pk, "epochs"),
        {"attempt": 1, "records": records[1:] + [{"epoch": 4, "data": {"train_loss": 0.2}}]},
        format="json",
    )
    assert again.status_code == 200
    stored = EpochMetric.objects.filter(submission=submission).order_by("epoch")
    assert [(m.epoch, m.data["train_loss"]) for m in stored] == [(1, 1.0), (2, 0.5), (3, 1.0 / 3), (4, 0.2)]
    Submission.objects.filter(pk=submission.pk).update(status=Status.CANCELLED)
    retry = w.post(url(submission.pk, "epochs"), {"attempt": 1, "records": records}, format="json")
    assert retry.status_code == 200  # a lost answer's retry: nothing new
    late = w.post(
        url(submission.pk, "epochs"), {"attempt": 1, "records": [{"epoch": 5, "data": {}}]}, format="json"
    )
    assert late.status_code == 409 and EpochMetric.objects.filter(submission=submission).count() == 4


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"attempt": 1}, "not both and not neither"),
        ({"attempt": 1, "epoch": 1, "data": {}, "records": [{"epoch": 2, "data": {}}]}, "not both"),
        ({"attempt": 1, "records": []}, "empty"),
        ({"attempt": 1, "records": [{"epoch": -1, "data": {}}]}, "greater than or equal to 0"),
        ({"attempt": 1, "records": [{"epoch": 1, "data": {"variant": 99}}]}, "'variant' must be"),
        ({"attempt": 1, "records": [{"epoch": 1, "data": {}}] * 501}, "no more than 500"),
    ],
)
def test_bad_epoch_posts_say_what_is_wrong_and_store_nothing(
    competition, alice, queue_config_entry, body, expected
):
    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    answer = w.post(url(submission.pk, "epochs"), body, format="json")
    assert answer.status_code == 400 and expected in answer.content.decode(), answer.content
    assert not EpochMetric.objects.filter(submission=submission).exists()


def test_invalid_worker_predictions_fail_the_entry_readably(competition, alice, queue_config_entry, broker):
    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    bad = predictions_csv(competition, drop=3)
    response = w.post(
        url(submission.pk, "predictions"), {"attempt": 1, "file": io.BytesIO(bad)}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["problems"]
    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.error_message.startswith("The trained model's predictions were not valid")
    assert not submission.predictions
    assert broker.take("scoring") == []


def test_fail_keeps_a_readable_reason_and_is_idempotent(competition, alice, queue_config_entry):
    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: CUDA out of memory'
    assert (
        w.post(url(submission.pk, "fail"), {"attempt": 1, "message": trace}, format="json").status_code == 200
    )
    assert (
        w.post(url(submission.pk, "fail"), {"attempt": 1, "message": "other"}, format="json").status_code
        == 200
    )
    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.error_message == "RuntimeError: CUDA out of memory"


def test_stale_attempt_callbacks_change_nothing(competition, alice, queue_config_entry, broker):
    from podium.submissions.services import submissions_reap_stale

    submission, old_token = queue_config_entry(competition, alice)
    old = worker(old_token)
    assert old.post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 200
    old.post(
        url(submission.pk, "epochs"), {"attempt": 1, "epoch": 1, "data": {"train_loss": 2.0}}, format="json"
    )
    # The worker goes silent; the reaper gives the entry a new attempt with a fresh token.
    Submission.objects.filter(pk=submission.pk).update(heartbeat_at=submission.queued_at - timedelta(hours=1))
    assert submissions_reap_stale()["requeued"] == 1
    ((name, (sid, attempt, new_token)),) = broker.take("gpu")
    assert (sid, attempt) == (submission.pk, 2) and new_token != old_token

    before = Submission.objects.get(pk=submission.pk)
    beat = old.post(url(submission.pk, "heartbeat"), {"attempt": 1}, format="json")
    assert beat.status_code == 409 and beat.json()["continue"] is False
    assert old.post(url(submission.pk, "claim"), {"attempt": 1}, format="json").status_code == 409
    assert (
        old.post(
            url(submission.pk, "epochs"), {"attempt": 1, "epoch": 2, "data": {}}, format="json"
        ).status_code
        == 409
    )
    csv = io.BytesIO(predictions_csv(competition))
    assert (
        old.post(
            url(submission.pk, "predictions"), {"attempt": 1, "file": csv}, format="multipart"
        ).status_code
        == 409
    )
    assert (
        old.post(url(submission.pk, "fail"), {"attempt": 1, "message": "late"}, format="json").status_code
        == 409
    )
    after = Submission.objects.get(pk=submission.pk)
    assert (after.status, after.attempt, after.error_message, after.predictions.name) == (
        before.status,
        before.attempt,
        before.error_message,
        before.predictions.name,
    )
    assert EpochMetric.objects.filter(submission=submission).count() == 1
    # The new attempt works.
    assert (
        worker(new_token).post(url(submission.pk, "claim"), {"attempt": 2}, format="json").status_code == 200
    )


def test_cancel_stops_the_worker(competition, alice, alice_api, queue_config_entry):
    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    w.post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    assert alice_api.post(f"/api/submissions/{submission.pk}/cancel/").status_code == 200
    beat = w.post(url(submission.pk, "heartbeat"), {"attempt": 1}, format="json")
    assert beat.status_code == 409 and "cancelled" in beat.json()["detail"]


def test_cancelled_before_claim_is_dropped(competition, alice, alice_api, queue_config_entry):
    submission, token = queue_config_entry(competition, alice)
    alice_api.post(f"/api/submissions/{submission.pk}/cancel/")
    response = worker(token).post(url(submission.pk, "claim"), {"attempt": 1}, format="json")
    assert response.status_code == 409 and "cancelled" in response.json()["detail"]


def test_dataset_files_for_workers(competition, alice, queue_config_entry):
    from tests.factories.competitions import make_competition, make_dataset

    submission, token = queue_config_entry(competition, alice)
    w = worker(token)
    ok = w.get(f"/api/worker/submissions/{submission.pk}/files/iris/train.csv")
    assert ok.status_code == 200
    assert (
        b"".join(ok.streaming_content)
        == competition.dataset.files.get(name="train.csv").file.open("rb").read()
    )
    assert w.get(f"/api/worker/submissions/{submission.pk}/files/iris/test_labels.csv").status_code == 404
    # Another dataset's files are not this entry's, unless the competition allows it for pre-training.
    wine = make_dataset("wine")
    assert w.get(f"/api/worker/submissions/{submission.pk}/files/wine/train.csv").status_code == 404
    competition.pretrain_datasets.add(wine)
    assert w.get(f"/api/worker/submissions/{submission.pk}/files/wine/train.csv").status_code == 200
    assert w.get(f"/api/worker/submissions/{submission.pk}/files/wine/test_labels.csv").status_code == 404
    other = make_competition("other", dataset="moons")
    del other
    assert w.get(f"/api/worker/submissions/{submission.pk}/files/moons/train.csv").status_code == 404
    # A user's session never fetches worker files.
    assert APIClient().get(f"/api/worker/submissions/{submission.pk}/files/iris/train.csv").status_code == 401


def test_token_round_trip():
    from podium.submissions.tokens import worker_token_read

    grant = worker_token_read(worker_token_make(submission_id=7, attempt=3))
    assert (grant.submission_id, grant.attempt) == (7, 3)


def test_claim_answer_has_the_shape_of_the_protocols_claim_order(competition, alice, queue_config_entry):
    from common.protocol import ClaimOrder, DatasetFile, DatasetOrder, MetricInfo, PredictionFormat

    submission, token = queue_config_entry(competition, alice)
    order = worker(token).post(url(submission.pk, "claim"), {"attempt": 1}, format="json").json()
    assert set(order) == set(ClaimOrder.__annotations__)
    assert set(order["metric"]) == set(MetricInfo.__annotations__)
    assert set(order["prediction_format"]) == set(PredictionFormat.__annotations__)
    assert set(order["dataset"]) == set(DatasetOrder.__annotations__)
    assert all(set(f) == set(DatasetFile.__annotations__) for f in order["dataset"]["files"])

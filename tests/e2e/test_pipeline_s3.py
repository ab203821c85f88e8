"""The pipeline end to end with media in an S3-compatible store (PODIUM_STORAGE_URL=s3://…):
the real web server, scorer and Django-free trainer, a real S3-protocol server started by the
test, and nothing on a shared local disk.

A staff member uploads a dataset through the API; a participant downloads its files, submits
a predictions file and a model config; both are scored and the predictions come back through
the API. Every file lives in the bucket, private: an anonymous GET of the hidden answer key is
refused by the S3 server itself.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

from podium_client.client import PodiumClient
from tests.e2e.harness import ROOT
from tests.e2e.helpers import TINY_CONFIG, board, predictions_csv, wait_final

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _read(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def test_upload_submit_score_download_with_media_in_s3(
    s3_server, private_redis, make_platform, settings, tmp_path
):
    from django.utils import timezone

    from datasets import catalog
    from podium.competitions.models import Competition, Dataset
    from podium.competitions.services import competition_create, competition_join
    from podium.submissions.models import Submission
    from tests.factories.accounts import make_api_token, make_user

    platform = make_platform(broker="redis", redis=private_redis)
    platform.start_web()
    platform.start_scorer()
    platform.start_trainer()

    host = make_user("hannah", password="x-Passw0rd-x", is_staff=True)
    host_token = make_api_token(host, name="host")
    eve = make_user("eve", password="x-Passw0rd-x")
    eve_token = make_api_token(eve, name="e2e")

    # 1. A dataset uploaded through the API lands in the bucket, not on a local disk.
    train = catalog.build("iris").files["train.csv"]
    upload = httpx.post(
        f"{platform.url}/api/datasets/",
        headers={"Authorization": f"Token {host_token}"},
        data={
            "slug": "iris-s3",
            "title": "Iris in S3",
            "task_type": "classification",
            "target_column": "target",
            "test_fraction": "0.3",
            "metric": "accuracy",
        },
        files={"train_file": ("train.csv", train, "text/csv")},
        timeout=60,
    )
    assert upload.status_code == 201, upload.text
    dataset = Dataset.objects.get(slug="iris-s3")
    stored = {f.name: f for f in dataset.files.all()}
    assert {"train.csv", "test.csv", "test_labels.csv"} <= set(stored)
    keys = s3_server.keys()
    for row in stored.values():
        assert f"media/{row.file.name}" in keys, (row.file.name, keys)
    media_root = settings.MEDIA_ROOT
    assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))

    # 2. The competition's answer key is built from the bucket and written back to it.
    now = timezone.now()
    competition = competition_create(
        dataset=dataset,
        slug="iris-s3-cup",
        title="Iris from object storage",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        daily_limit=20,
        budget_epochs=400,
        budget_seconds=120,
    )
    answer_key_key = f"media/{Competition.objects.get(pk=competition.pk).answer_key.name}"
    assert answer_key_key in s3_server.keys()
    competition_join(competition=competition, user=eve)
    labels = _read(stored["test_labels.csv"].file).decode()
    truth = {row["id"]: row["target"] for row in csv.DictReader(io.StringIO(labels))}

    with PodiumClient(platform.url, eve_token, timeout=30) as client:
        # 3. The participant downloads the served files, streamed from the bucket through the app.
        listed = {f["name"] for f in client.dataset_files(competition.slug)}
        assert "test_labels.csv" not in listed and {"train.csv", "test.csv"} <= listed
        written = client.download(competition.slug, tmp_path / "data")
        for path in written:
            assert path.read_bytes() == _read(stored[path.name].file), path.name
        hidden = httpx.get(
            f"{platform.url}/api/competitions/{competition.slug}/data/test_labels.csv",
            headers={"Authorization": f"Token {eve_token}"},
        )
        assert hidden.status_code == 404, hidden.text

        # 4. A predictions file and a model config are stored, trained, scored and ranked.
        perfect = client.submit_bytes(competition.slug, csv=predictions_csv(truth), description="perfect")
        config_path = tmp_path / "model.yaml"
        config_path.write_text(TINY_CONFIG)
        trained = client.submit(competition.slug, config=config_path)
        states = wait_final(client, [perfect["id"], trained["id"]], timeout=180, platform=platform)
        rows = board(client, competition.slug)

        # 5. Their predictions come back through the API, from the bucket.
        download = client.http.stream(f"/api/submissions/{perfect['id']}/predictions/")
        with download as response:
            served = b"".join(response.iter_bytes())

    assert states[perfect["id"]]["status"] == "scored", states
    assert states[perfect["id"]]["public_score"] == 1.0
    assert states[trained["id"]]["status"] == "scored", states
    assert [r["submission_id"] for r in rows] == [perfect["id"]]
    assert served == predictions_csv(truth)
    entry = Submission.objects.get(pk=trained["id"])
    keys = s3_server.keys()
    assert f"media/{entry.predictions.name}" in keys and f"media/{entry.weights.name}" in keys
    assert len(_read(entry.weights)) > 100

    # Streaming from the bucket changes nobody's rights: anonymous and another participant
    # (not joined) get neither the data nor eve's predictions; eve's download is whole.
    mallory_token = make_api_token(make_user("mallory", password="x-Passw0rd-x"), name="other")
    data_url = f"{platform.url}/api/competitions/{competition.slug}/data/train.csv"
    predictions_url = f"{platform.url}/api/submissions/{perfect['id']}/predictions/"
    assert httpx.get(data_url).status_code in (401, 403)
    assert httpx.get(data_url, headers={"Authorization": f"Token {mallory_token}"}).status_code == 403
    assert httpx.get(predictions_url).status_code == 404
    assert httpx.get(predictions_url, headers={"Authorization": f"Token {mallory_token}"}).status_code == 404
    own = httpx.get(data_url, headers={"Authorization": f"Token {eve_token}"})
    assert own.status_code == 200 and own.content == _read(stored["train.csv"].file)
    assert int(own.headers["Content-Length"]) == len(own.content)
    assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))

    # 6. The store itself refuses the hidden answer key to anyone without the platform's keys;
    # the platform's own (signed) read works, and a deliberately public object is readable,
    # so the refusal is the private ACL and not a wrong address.
    refused = s3_server.anonymous_get(answer_key_key)
    assert refused.status_code == 403, (refused.status_code, refused.text[:200])
    assert truth_not_in(refused.content, truth)
    labels_key = f"media/{stored['test_labels.csv'].file.name}"
    assert s3_server.anonymous_get(labels_key).status_code == 403
    signed = s3_server.client().get_object(Bucket=s3_server.bucket, Key=answer_key_key)
    assert signed["Body"].read()
    s3_server.client().put_object(
        Bucket=s3_server.bucket, Key="public-probe.txt", Body=b"hi", ACL="public-read"
    )
    assert s3_server.anonymous_get("public-probe.txt").content == b"hi"


def truth_not_in(body: bytes, truth: dict[str, str]) -> bool:
    return not any(label.encode() in body for label in set(truth.values()))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "names no bucket"),
        ("s3://podium-media?endpoint=http://minio:9000", "unknown option(s) endpoint"),
        ("s3://podium-media?endpoint_url=minio:9000", "is not an http:// or https:// address"),
        ("ftp://files.example.org/media", "unsupported scheme 'ftp'"),
    ],
)
def test_a_bad_storage_url_stops_the_web_server_at_start_up(url, message, tmp_path):
    """The process exits before serving anything, with one line naming the setting and the problem."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "PODIUM_VAR_DIR": str(tmp_path),
        "PODIUM_STORAGE_URL": url,
    }
    done = subprocess.run(
        [sys.executable, "-c", "import podium.wsgi"], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode != 0
    assert f"EnvError: PODIUM_STORAGE_URL={url!r}" in done.stderr.decode() and message in done.stderr.decode()

"""A rescore job run by a real scorer process from the real broker; its tasks' queues; the
beat task that re-sends a job whose message was lost."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from common.protocol import MAINTENANCE_QUEUE, RESCORE_RESUME_TASK, RESCORE_TASK, SCORING_QUEUE
from podium.operations.models import RescoreJob
from podium.submissions.models import Submission
from tests.factories.competitions import make_participations
from tests.factories.submissions import predictions_csv

REPO = Path(__file__).resolve().parents[3]


def _queue(task: str) -> str:
    from podium.celery import app

    return app.amqp.router.route({}, task)["queue"].name


def test_rescore_chunks_go_to_the_scorer_and_the_resume_task_to_maintenance():
    from podium.celery import app

    assert _queue(RESCORE_TASK) == SCORING_QUEUE
    assert _queue(RESCORE_RESUME_TASK) == MAINTENANCE_QUEUE
    app.loader.import_default_modules()
    beat = app.conf.beat_schedule["operations-rescores-resume-stale"]
    assert beat["task"] == RESCORE_RESUME_TASK and beat["options"]["queue"] == MAINTENANCE_QUEUE
    assert RESCORE_TASK in app.tasks and RESCORE_RESUME_TASK in app.tasks


@pytest.mark.django_db
def test_a_stalled_job_is_sent_again_once(cup_a, settings):
    from podium.operations.rescore import rescores_resume_stale

    job = RescoreJob.objects.create(competition=cup_a, metric="accuracy", state="running")
    assert rescores_resume_stale() == []  # it moved just now
    later = timezone.now() + settings.PODIUM_HEARTBEAT_TIMEOUT + timedelta(seconds=1)
    assert rescores_resume_stale(now=later) == [job.pk]
    assert rescores_resume_stale(now=later) == []  # touched: not sent again until it stalls again
    RescoreJob.objects.filter(pk=job.pk).update(state="done")
    assert rescores_resume_stale(now=later + 2 * settings.PODIUM_HEARTBEAT_TIMEOUT) == []


def _database_url(settings) -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_real_scorer_process_runs_a_rescore_job(host_api, alice, alice_api, cup_a, settings, tmp_path):
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.scoring import scores_compute
    from podium.submissions.services import submission_score

    make_participations(cup_a, alice)
    classes = cup_a.dataset.manifest["classes"]
    entries = []
    for label in classes:
        upload = io.BytesIO(predictions_csv(cup_a, label=label))
        upload.name = "p.csv"
        answer = alice_api.post("/api/competitions/cup-a/submissions/", {"file": upload}, format="multipart")
        entry = Submission.objects.get(pk=answer.json()["id"])
        entries.append(submission_score(submission_id=entry.pk, attempt=entry.attempt))
    job = host_api.post(
        "/api/competitions/cup-a/rescore/", {"metric": "balanced_accuracy"}, format="json"
    ).json()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(settings),
        "PODIUM_VAR_DIR": str(tmp_path),
        "PODIUM_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PODIUM_TEST_DB_TAG": "",
    }
    log = tmp_path / "scorer.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "podium", "worker", "-Q", "scoring", "-P", "solo",
             "--without-mingle", "--without-gossip", "-n", f"rescore-test-{os.getpid()}@%h"],
            env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if RescoreJob.objects.values_list("state", flat=True).get(pk=job["id"]) == "done":
                    break
                assert worker.poll() is None, log.read_text()
                time.sleep(0.3)
        finally:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
    done = RescoreJob.objects.get(pk=job["id"])
    assert done.state == "done" and done.done == 3, log.read_text()[-3000:]
    for entry in entries:
        entry = Submission.objects.select_related("competition").get(pk=entry.pk)
        expected = scores_compute(submission=entry)
        assert (entry.public_score, entry.private_score) == (expected.public, expected.private)
    best = max(
        Submission.objects.filter(pk__in=[e.pk for e in entries]), key=lambda s: (s.public_score, -s.pk)
    )
    assert BoardEntry.objects.get(competition=cup_a, user=alice).submission_id == best.pk

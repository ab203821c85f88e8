"""The scorer: public and private scores with the competition's metric, the board, once."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from podium.submissions.models import Status, Submission
from tests.factories.submissions import make_submission, predictions_csv

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]


def submit(client, competition, body: bytes):
    upload = io.BytesIO(body)
    upload.name = "p.csv"
    response = client.post(
        f"/api/competitions/{competition.slug}/submissions/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def run_delivered(broker):
    """Run what the scorer would: the task named in each message taken from the broker, with its args."""
    from podium.celery import app

    app.loader.import_default_modules()
    delivered = broker.take("scoring")
    for name, args in delivered:
        app.tasks[name].run(*args)
    return delivered


def expected_scores(competition, body: bytes) -> tuple[float, float]:
    """scikit-learn on the stored partition, read independently of the scorer's parser."""
    from podium.competitions.selectors import answer_key_bytes

    key = list(csv.DictReader(io.StringIO(answer_key_bytes(competition).decode())))
    predicted = {r["id"]: r["target"] for r in csv.DictReader(io.StringIO(body.decode()))}
    split_col = next(c for c in key[0] if c not in ("id", "target"))
    public = [r for r in key if r[split_col] in ("public", "1", "True", "true")]
    private = [r for r in key if r not in public]
    assert public and private
    return tuple(
        accuracy_score([r["target"] for r in rows], [predicted[r["id"]] for r in rows])
        for rows in (public, private)
    )


def mixed_predictions(competition) -> bytes:
    rows = predictions_csv(competition).decode().splitlines()
    classes = competition.dataset.manifest["classes"]
    out = [rows[0]] + [f"{r.split(',')[0]},{classes[i % 3]}" for i, r in enumerate(rows[1:])]
    return ("\n".join(out) + "\n").encode()


def test_scored_once_with_public_private_and_interval(competition, alice, alice_api, broker):
    from podium.leaderboards.models import BoardEntry

    body = mixed_predictions(competition)
    entry_id = submit(alice_api, competition, body)
    assert run_delivered(broker) == [("podium.submissions.tasks.score_submission", [entry_id, 1])]
    entry = Submission.objects.get(pk=entry_id)
    assert entry.status == Status.SCORED and entry.finished_at
    public, private = expected_scores(competition, body)
    assert entry.public_score == pytest.approx(public, abs=1e-12)
    assert entry.private_score == pytest.approx(private, abs=1e-12)
    assert entry.public_ci_low <= entry.public_score <= entry.public_ci_high
    row = BoardEntry.objects.get(competition=competition, user=alice)
    assert row.submission_id == entry_id and row.score == pytest.approx(public)

    # A redelivered message (acks_late after a lost ack) changes nothing.
    before = (entry.finished_at, entry.public_score, entry.public_ci_low, row.entry_count, row.score)
    from podium.submissions.services import submission_score

    submission_score(submission_id=entry_id, attempt=1)
    again = Submission.objects.get(pk=entry_id)
    row.refresh_from_db()
    assert (again.finished_at, again.public_score, again.public_ci_low, row.entry_count, row.score) == before
    assert BoardEntry.objects.filter(competition=competition).count() == 1


def test_private_score_is_shown_only_after_the_reveal(competition, alice_api, broker):
    from django.utils import timezone

    entry_id = submit(alice_api, competition, mixed_predictions(competition))
    run_delivered(broker)
    assert alice_api.get(f"/api/submissions/{entry_id}/").json()["private_score"] is None
    competition.ends_at = competition.private_revealed_at = timezone.now()  # closed and revealed
    competition.save()
    body = alice_api.get(f"/api/submissions/{entry_id}/").json()
    assert body["private_score"] == Submission.objects.get(pk=entry_id).private_score is not None


def test_messages_of_other_attempts_or_states_change_nothing(competition, alice_api, broker):
    from podium.submissions.services import submission_score

    entry_id = submit(alice_api, competition, mixed_predictions(competition))
    broker.take("scoring")
    assert submission_score(submission_id=entry_id, attempt=2).status == Status.SCORING
    alice_api.post(f"/api/submissions/{entry_id}/cancel/")
    assert submission_score(submission_id=entry_id, attempt=1).status == Status.CANCELLED
    entry = Submission.objects.get(pk=entry_id)
    assert entry.public_score is None and entry.status == Status.CANCELLED
    assert submission_score(submission_id=999_999, attempt=1) is None


def test_a_missing_predictions_file_fails_readably(competition, alice_api, broker):
    from podium.submissions.services import submission_score

    entry_id = submit(alice_api, competition, mixed_predictions(competition))
    broker.take("scoring")
    entry = Submission.objects.get(pk=entry_id)
    entry.predictions.storage.delete(entry.predictions.name)
    failed = submission_score(submission_id=entry_id, attempt=1)
    assert (
        failed.status == Status.FAILED and failed.error_message == "The stored predictions file is missing."
    )


def _database_url(settings) -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_real_scorer_process_scores_a_posted_file(
    competition, alice, alice_api, broker, settings, private_var_dir
):
    """POST through the API, a real `celery -A podium worker -Q scoring` process, a board row."""
    from podium.leaderboards.models import BoardEntry

    entry_id = submit(alice_api, competition, mixed_predictions(competition))
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(settings),
        "PODIUM_VAR_DIR": str(private_var_dir),
        "PODIUM_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PODIUM_TEST_DB_TAG": "",
    }
    log = private_var_dir / f"scorer-{entry_id}.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "podium", "worker", "-Q", "scoring", "-P", "solo",
             "--without-mingle", "--without-gossip", "-n", f"scorer-test-{os.getpid()}@%h"],
            env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                status = Submission.objects.values_list("status", flat=True).get(pk=entry_id)
                if status not in (Status.SCORING,):
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
    entry = Submission.objects.get(pk=entry_id)
    assert entry.status == Status.SCORED, log.read_text()[-3000:]
    assert np.isfinite(entry.public_score) and np.isfinite(entry.private_score)
    assert BoardEntry.objects.get(competition=competition, user=alice).submission_id == entry_id


def test_under_the_ladder_exact_public_scores_are_withheld_until_the_reveal(
    competition, alice_api, admin_api, bob_api, anon_api, broker
):
    """Blum & Hardt's Ladder releases scores through the board only; an entry's exact public
    score (and its interval, which brackets it) would undo that for its owner."""
    from django.utils import timezone

    competition.ladder_enabled = True
    competition.ladder_step = 0.01
    competition.save()
    entry_id = submit(alice_api, competition, mixed_predictions(competition))
    run_delivered(broker)
    exact = Submission.objects.get(pk=entry_id).public_score
    assert exact is not None

    for url in (f"/api/submissions/{entry_id}/", f"/api/competitions/{competition.slug}/submissions/"):
        body = alice_api.get(url).json()
        row = body if "id" in body else body["results"][0]
        assert (row["public_score"], row["public_ci"]) == (None, None), url
    assert admin_api.get(f"/api/submissions/{entry_id}/").json()["public_score"] == exact
    assert bob_api.get(f"/api/submissions/{entry_id}/").status_code == 404
    assert anon_api.get(f"/api/submissions/{entry_id}/").status_code == 404
    # The owner's page shows no exact score either.
    from django.test import Client

    page = Client()
    page.force_login(Submission.objects.get(pk=entry_id).user)
    html = page.get(f"/submissions/{entry_id}/").content.decode()
    assert f"{exact:.4f}" not in html and f"{exact:.5f}" not in html

    competition.private_revealed_at = timezone.now()
    competition.save()
    assert alice_api.get(f"/api/submissions/{entry_id}/").json()["public_score"] == exact


def test_a_display_copy_with_withheld_scores_cannot_be_saved(competition, alice, broker):
    from podium.submissions.selectors import submission_get

    competition.ladder_enabled = True
    competition.save()
    entry = make_submission(competition, alice)
    shown = submission_get(submission_id=entry.pk, user=alice)
    with pytest.raises(RuntimeError, match="withheld"):
        shown.save()


@pytest.mark.django_db(transaction=True)
def test_the_scorer_locks_the_entry_alone_not_its_competition(alice, bob):
    """An intake holds its entrant's board row and takes a key-share lock on the competition
    at commit (the foreign-key check); a scorer that locked the competition row too, then
    waited for that board row, deadlocked with it (seen under a flood of model entries)."""
    import threading

    from django.db import connection, transaction

    from podium.submissions.services import submission_score
    from tests.factories.competitions import make_competition, make_participations

    competition = make_competition()
    make_participations(competition, alice, bob)
    entry = make_submission(competition, alice, status=Status.SCORING, attempt=1)
    entry.predictions.save("p.csv", io.BytesIO(predictions_csv(competition)), save=True)
    holding, done = threading.Event(), threading.Event()

    def intake_at_commit():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM competitions_competition WHERE id = %s FOR KEY SHARE", [competition.pk]
                )
                holding.set()
                done.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=intake_at_commit)
    thread.start()
    try:
        assert holding.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a lock on the competition row would wait
        scored = submission_score(submission_id=entry.pk, attempt=1)
    finally:
        done.set()
        thread.join(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert scored.status == Status.SCORED

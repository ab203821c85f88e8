"""The submission pipeline end to end, with real processes: gunicorn, the scorer,
the Django-free trainer, beat and a broker, all on the test database.

Each test drives the platform through the HTTP API as a participant would and
asserts on what the API and the board say, plus the rows behind them.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from podium_client.client import PodiumClient
from tests.e2e.helpers import (
    SLOW_CONFIG,
    TINY_CONFIG,
    board,
    iris_truth,
    predictions_csv,
    wait_final,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _client(platform, token) -> PodiumClient:
    return PodiumClient(platform.url, token, timeout=30)


def _submit_config(client: PodiumClient, slug: str, text: str, tmp_path, name: str = "model.yaml") -> dict:
    path = tmp_path / name
    path.write_text(text)
    return client.submit(slug, config=path)


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_prediction_files_are_scored_and_ranked(broker, request, competition, participant):
    """Two CSVs through the real HTTP API: the perfect one scores 1.0 on both splits and
    holds the participant's single board row; the worse one is scored but does not rank."""
    from podium.submissions.models import Submission

    # The broker first, so that teardown stops the processes before it.
    redis = request.getfixturevalue("private_redis") if broker == "redis" else None
    platform = request.getfixturevalue("make_platform")(broker=broker, redis=redis)
    platform.start_web()
    platform.start_scorer()
    user, token = participant
    truth = iris_truth()
    wrong = {i: ("setosa" if label != "setosa" else "virginica") for i, label in truth.items()}

    with _client(platform, token) as client:
        perfect = client.submit_bytes(competition.slug, csv=predictions_csv(truth), description="perfect")
        poor = client.submit_bytes(competition.slug, csv=predictions_csv(wrong), description="all wrong")
        states = wait_final(client, [perfect["id"], poor["id"]], timeout=60, platform=platform)
        rows = board(client, competition.slug)

    assert states[perfect["id"]]["status"] == "scored", states
    assert states[perfect["id"]]["public_score"] == 1.0
    assert states[poor["id"]]["status"] == "scored"
    assert states[poor["id"]]["public_score"] == 0.0
    # Exactly one row for the participant, showing the better entry, counting both.
    assert [(r["entrant"], r["submission_id"], r["score"], r["entry_count"]) for r in rows] == [
        ("eve", perfect["id"], 1.0, 2)
    ]
    private = dict(Submission.objects.values_list("id", "private_score"))
    assert private == {perfect["id"]: 1.0, poor["id"]: 0.0}


def test_model_config_is_trained_by_the_worker_and_scored(
    private_redis, make_platform, competition, participant, tmp_path
):
    """A tiny config through the real API: the Django-free worker claims it, posts both
    epochs with per-layer gradient norms, uploads predictions and weights, and the scorer
    ranks it. Then a dataset file is corrupted in storage: the worker refuses the download
    (sha256) and the entry ends failed with a readable reason, not a traceback."""
    import shutil

    from django.core.files.base import ContentFile

    from podium.competitions.models import DatasetFile
    from podium.submissions.models import EpochMetric, Submission

    platform = make_platform(broker="redis", redis=private_redis).start_all()
    _, token = participant
    with _client(platform, token) as client:
        good = _submit_config(client, competition.slug, TINY_CONFIG, tmp_path)
        assert good["status"] == "queued"
        entry = wait_final(client, [good["id"]], timeout=120, platform=platform)[good["id"]]

        stored_file = DatasetFile.objects.get(dataset=competition.dataset, name="train.csv")
        tampered = b"id,sepal_length\n1,tampered\n"
        # Through the storage API (an S3 object has no local path): same name, new bytes.
        stored_file.file.storage.delete(stored_file.file.name)
        assert (
            stored_file.file.storage.save(stored_file.file.name, ContentFile(tampered))
            == stored_file.file.name
        )
        shutil.rmtree(platform.tmp / "var" / "worker-cache")  # make the worker download again
        bad = _submit_config(client, competition.slug, TINY_CONFIG, tmp_path, "again.yaml")
        failed = wait_final(client, [bad["id"]], timeout=60, platform=platform)[bad["id"]]
        rows = board(client, competition.slug)

    assert entry["status"] == "scored", entry
    assert entry["attempt"] == 1
    assert 0.0 <= entry["public_score"] <= 1.0
    assert [e["epoch"] for e in entry["epochs"]] == [1, 2]
    for epoch in entry["epochs"]:
        assert epoch["train_loss"] is not None
        assert epoch["grad_norms"] and all(v is None or v >= 0 for v in epoch["grad_norms"].values())
    assert EpochMetric.objects.filter(submission_id=good["id"]).count() == 2
    stored = Submission.objects.get(pk=good["id"])
    assert stored.predictions and stored.weights  # predictions CSV and safetensors weights came back
    with stored.weights.open("rb") as handle:
        assert len(handle.read()) > 100

    assert failed["status"] == "failed", failed
    assert failed["error_message"].startswith(
        f"dataset problem while downloading the dataset: dataset file iris/train.csv: downloaded {len(tampered)} bytes"
    ), failed["error_message"]
    assert "Traceback" not in failed["error_message"]
    assert [r["submission_id"] for r in rows] == [good["id"]]


def test_training_worker_killed_mid_training_the_entry_finishes_once(
    private_redis, make_platform, competition, participant, tmp_path
):
    """(a) SIGKILL the trainer (its whole process group) while it trains; a new trainer
    takes the requeued attempt; the entry is scored once and ranks once."""
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.models import EpochMetric, Submission

    platform = make_platform(broker="redis", redis=private_redis).start_all()
    _, token = participant
    with _client(platform, token) as client:
        entry = _submit_config(client, competition.slug, SLOW_CONFIG, tmp_path)
        wait_for(
            lambda: EpochMetric.objects.filter(submission_id=entry["id"], attempt=1).exists(),
            timeout=90,
            what="the first epoch of attempt 1",
            platform=platform,
        )
        platform.procs["trainer1"].kill(signal.SIGKILL)
        # Killed mid-training: the entry was not finished (40 epochs take seconds).
        assert Submission.objects.get(pk=entry["id"]).status in ("running", "queued")
        platform.start_trainer()
        states = wait_final(client, [entry["id"]], timeout=150, platform=platform)
        rows = board(client, competition.slug)

    final = states[entry["id"]]
    assert final["status"] == "scored", final
    assert final["attempt"] >= 2  # the reaper gave it a new attempt after the heartbeats stopped
    assert [r["submission_id"] for r in rows] == [entry["id"]]
    assert BoardEntry.objects.filter(competition=competition).count() == 1
    assert Submission.objects.filter(competition=competition).count() == 1
    # The shown curve is the finishing attempt's, complete and without duplicates.
    epochs = [e["epoch"] for e in final["epochs"]]
    assert epochs == sorted(set(epochs)) and epochs[0] == 1


def test_redis_restart_loses_messages_but_no_entry(
    private_redis, make_platform, competition, participant, tmp_path
):
    """(b) Stop and restart the broker (which keeps nothing on disk) while entries are
    queued and two are training: every entry ends scored or failed with a reason; none
    is lost, none is scored twice."""
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.models import Submission

    # The trainer holds two entries at once (two threads, a message each), so that the last
    # two messages are still in the broker when it goes down.
    platform = make_platform(
        broker="redis", redis=private_redis, extra_env={"PODIUM_WORKER_MAX_IN_FLIGHT": "2"}
    ).start_all()
    _, token = participant
    with _client(platform, token) as client:
        ids = [
            _submit_config(client, competition.slug, SLOW_CONFIG, tmp_path, f"slow{i}.yaml")["id"]
            for i in range(2)
        ]
        ids += [
            _submit_config(client, competition.slug, TINY_CONFIG, tmp_path, f"tiny{i}.yaml")["id"]
            for i in range(2)
        ]
        wait_for(
            lambda: Submission.objects.filter(pk__in=ids[:2], status="running").count() == 2,
            timeout=60,
            what="the first two entries to be running",
            platform=platform,
        )
        assert Submission.objects.filter(pk__in=ids[2:], status="queued").count() == 2
        private_redis.stop()  # queued and unacknowledged messages are gone with it
        private_redis.start()
        # Prediction files sent while the broker came back must not be lost either.
        csv_ids = [client.submit_bytes(competition.slug, csv=predictions_csv(iris_truth()))["id"]]
        ids += csv_ids
        states = wait_final(client, ids, timeout=200, platform=platform)
        rows = board(client, competition.slug)

    for state in states.values():
        assert state["status"] in ("scored", "failed"), state
        if state["status"] == "failed":
            assert state["error_message"] and "Traceback" not in state["error_message"]
    assert Submission.objects.filter(competition=competition).count() == len(ids)
    scored = [i for i, s in states.items() if s["status"] == "scored"]
    assert scored, states
    assert states[csv_ids[0]]["status"] == "scored" and states[csv_ids[0]]["public_score"] == 1.0
    # One board row, counting each scored entry once (failed ones never count), showing a
    # best (perfect) scored entry.
    assert BoardEntry.objects.filter(competition=competition).count() == 1
    assert len(rows) == 1 and rows[0]["entry_count"] == len(scored), (rows, states)
    assert rows[0]["score"] == 1.0 and rows[0]["submission_id"] in scored


def test_scorer_crash_while_scoring_is_redelivered_and_scored_once(
    private_redis, make_platform, competition, participant, tmp_path
):
    """(c) The scorer's process dies inside the scoring transaction once; the message is
    redelivered to a fresh pool process and the entry is scored exactly once."""
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.models import Submission

    crash_flag = tmp_path / "crash-scorer-once"
    crash_flag.write_text("armed")
    platform = make_platform(broker="redis", redis=private_redis)
    platform.start_web()
    scorer = platform.start_scorer(faults_armed_by=crash_flag)
    platform.start_maintenance()
    platform.start_beat()
    _, token = participant
    with _client(platform, token) as client:
        entry = client.submit_bytes(competition.slug, csv=predictions_csv(iris_truth()))
        states = wait_final(client, [entry["id"]], timeout=90, platform=platform)
        rows = board(client, competition.slug)

    assert not crash_flag.exists(), "the scorer never reached the crash point"
    assert (
        "WorkerLostError" in scorer.log()
        or "exited with exitcode 137" in scorer.log()
        or "signal 9" in scorer.log()
    )
    final = states[entry["id"]]
    assert final["status"] == "scored" and final["public_score"] == 1.0
    assert Submission.objects.get(pk=entry["id"]).attempt == 1  # redelivered, not resubmitted
    assert BoardEntry.objects.filter(competition=competition).count() == 1
    assert [(r["submission_id"], r["entry_count"]) for r in rows] == [(entry["id"], 1)]


def test_cli_submit_and_watch_against_the_running_platform(
    private_redis, make_platform, competition, participant, tmp_path
):
    """The `podium` command line, as a participant runs it, against gunicorn and the scorer."""
    platform = make_platform(broker="redis", redis=private_redis)
    platform.start_web()
    platform.start_scorer()
    _, token = participant
    csv_path = tmp_path / "preds.csv"
    csv_path.write_bytes(predictions_csv(iris_truth()))
    env = {
        **platform.env,
        "PODIUM_URL": platform.url,
        "PODIUM_TOKEN": token,
        "PODIUM_CONFIG_DIR": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, "-m", "podium_client", "submit", competition.slug, str(csv_path), "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr + platform.logs()
    assert "Submitted entry #" in run.stdout
    assert "scored" in run.stdout and "1.00000" in run.stdout

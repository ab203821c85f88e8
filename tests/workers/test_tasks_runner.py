"""workers.runner against the real worker API (live_server: a real HTTP server on the test
database): claim, dataset cache, training, epochs, predictions, cancel, and readable failures."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import torch
from celery.exceptions import SoftTimeLimitExceeded

from datasets.arrays import DatasetFileError
from tests.e2e.helpers import SLOW_CONFIG, TINY_CONFIG
from workers.runner import Progress, RunnerSettings, describe_error, run_submission

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def competition(transactional_db):
    from django.utils import timezone

    from podium.competitions.services import competition_create, dataset_import_builtin

    now = timezone.now()
    return competition_create(
        dataset=dataset_import_builtin(slug="iris"),
        slug="iris-runner",
        title="Iris runner",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
    )


def queued_entry(competition, user, config_text: str):
    """A config entry as submission_enqueue leaves it (queued, attempt 1), and its token.
    Made directly, so that no task message is sent to a broker some other worker reads."""
    from django.utils import timezone

    from podium.submissions.models import Kind, Status, Submission
    from podium.submissions.tokens import worker_token_make
    from workers.spec import parse_config

    config = parse_config(config_text)
    entry = Submission.objects.create(
        competition=competition,
        phase=competition.phases.get(number=1),
        user=user,
        kind=Kind.CONFIG,
        status=Status.QUEUED,
        attempt=1,
        queued_at=timezone.now(),
        config=config.model_dump(mode="json"),
        config_text=config_text,
    )
    return entry, worker_token_make(submission_id=entry.pk, attempt=1)


@pytest.fixture
def settings_for(live_server, tmp_path):
    return RunnerSettings(
        api_url=live_server.url,
        cache_dir=tmp_path / "cache",
        work_dir=tmp_path / "work",
        heartbeat_interval=0.2,
    )


def test_an_attempt_runs_from_claim_to_predictions(competition, alice, settings_for, tmp_path):
    from podium.submissions.models import EpochMetric, Submission

    entry, token = queued_entry(competition, alice, TINY_CONFIG)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "done"

    entry = Submission.objects.get(pk=entry.pk)
    assert entry.status == "scoring"  # the scorer takes it from here
    assert entry.predictions and entry.weights
    with entry.predictions.open("rb") as handle:
        lines = handle.read().decode().splitlines()
    assert lines[0] == "id,target" and len(lines) == 1 + competition.dataset.manifest["rows"]["test"]
    epochs = list(EpochMetric.objects.filter(submission=entry).order_by("epoch"))
    assert [e.epoch for e in epochs] == [1, 2]
    assert set(epochs[0].data["grad_norms"]) and epochs[0].data["train_loss"] > 0
    # The dataset files were cached under their sha256; the work folder was cleaned up.
    cached = {p.name for p in (tmp_path / "cache").rglob("*") if p.is_file() and len(p.name) == 64}
    hidden = {f["sha256"] for n, f in competition.dataset.manifest["files"].items() if f["hidden"]}
    assert cached and not (cached & hidden)  # the hidden labels never reached the worker
    assert not list((tmp_path / "work").iterdir())


def test_epochs_are_posted_at_once_then_gathered_at_most_every_interval(
    competition, alice, settings_for, monkeypatch
):
    from podium.submissions.models import EpochMetric
    from podium_client.worker import WorkerClient
    from workers import runner

    interval = 0.3
    monkeypatch.setattr(runner, "EPOCH_POST_INTERVAL_S", interval)
    posts: list[tuple[float, list[int]]] = []
    single, several = WorkerClient.epoch, WorkerClient.epochs

    def epoch(self, attempt, number, data):
        posts.append((time.monotonic(), [number]))
        return single(self, attempt, number, data)

    def epochs(self, attempt, records):
        posts.append((time.monotonic(), [number for number, _ in records]))
        return several(self, attempt, records)

    monkeypatch.setattr(WorkerClient, "epoch", epoch)
    monkeypatch.setattr(WorkerClient, "epochs", epochs)
    entry, token = queued_entry(competition, alice, SLOW_CONFIG.replace("epochs: 40", "epochs: 30"))
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "done"

    # Every epoch is stored once, in order; the first went alone, as soon as it ended.
    assert [n for _, numbers in posts for n in numbers] == list(range(1, 31))
    assert posts[0][1] == [1]
    stored = EpochMetric.objects.filter(submission=entry).values_list("epoch", flat=True)
    assert list(stored) == list(range(1, 31))
    # Later posts are at least the interval apart, but the last (the run's end posts at once).
    gaps = [b - a for (a, _), (b, _) in zip(posts, posts[1:], strict=False)]
    assert all(gap >= interval * 0.95 for gap in gaps[:-1]), gaps
    assert len(posts) < 30


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_worker_sets_the_thread_count_and_the_entry_records_its_environment(
    competition, alice, settings_for, torch_threads
):
    """Only the local runner set torch's threads; a worker trained with whatever the machine
    gave it, and the entry did not say. Now both set it the same way, and the entry records it."""
    from dataclasses import replace

    from podium.submissions.models import Submission

    torch.set_num_threads(2)
    config = TINY_CONFIG + "  precision: bf16\n"
    entry, token = queued_entry(competition, alice, config)
    assert (
        run_submission(entry.pk, 1, token, settings=replace(settings_for, threads=1, device="cpu")) == "done"
    )
    assert torch.get_num_threads() == 1
    report = Submission.objects.get(pk=entry.pk).training_report
    assert report["environment"] == {
        "torch": torch.__version__,
        "device": "cpu",
        "threads": 1,
        "precision": "fp32",
        "precision_asked": "bf16",
    }
    assert report["stopped_reason"] == "completed" and report["stop_message"] == "completed 2 epochs"
    assert report["notes"] == [
        "precision bf16 was asked for, but it applies on a CUDA GPU only: this run on cpu trained in fp32"
    ]


def test_threads_come_from_the_environment_or_the_cpus_available(monkeypatch):
    import os

    from common.env import EnvError
    from workers.environment import THREADS_ENV, threads_from_env

    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert threads_from_env() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(THREADS_ENV, "3")
    assert threads_from_env() == 3 and RunnerSettings.from_env().threads == 3
    monkeypatch.setenv(THREADS_ENV, "0")
    with pytest.raises(EnvError, match=THREADS_ENV):
        threads_from_env()


def test_a_failed_attempt_records_the_environment_it_failed_in(
    competition, alice, settings_for, torch_threads
):
    from dataclasses import replace

    from podium.submissions.models import Submission

    diverging = TINY_CONFIG.replace("{name: adam, lr: 0.01}", "{name: sgd, lr: 10.0}").replace(
        "    - activation: relu\n",
        "    - activation: relu\n    - linear: {units: 64}\n    - activation: relu\n",
    )
    entry, token = queued_entry(competition, alice, diverging)
    outcome = run_submission(entry.pk, 1, token, settings=replace(settings_for, threads=1, device="cpu"))
    entry = Submission.objects.get(pk=entry.pk)
    assert outcome == "failed" and entry.status == "failed"
    assert entry.error_message.startswith("training diverged at epoch 1 (train)")
    assert entry.training_report == {
        "environment": {
            "torch": torch.__version__,
            "device": "cpu",
            "threads": 1,
            "precision": "fp32",
            "precision_asked": "fp32",
        }
    }


def test_a_repeated_delivery_is_dropped_and_changes_nothing(competition, alice, settings_for):
    from podium.submissions.models import Submission

    entry, token = queued_entry(competition, alice, TINY_CONFIG)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "done"
    before = Submission.objects.values().get(pk=entry.pk)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "dropped"
    assert Submission.objects.values().get(pk=entry.pk) == before


def test_cancelling_stops_training_within_a_few_heartbeats(competition, alice, settings_for):
    from podium.submissions.models import EpochMetric, Submission
    from podium.submissions.services import submission_cancel

    entry, token = queued_entry(competition, alice, SLOW_CONFIG)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault("v", run_submission(entry.pk, 1, token, settings=settings_for))
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not EpochMetric.objects.filter(submission=entry).exists():
        assert time.monotonic() < deadline, "no epoch was posted"
        time.sleep(0.05)
    submission_cancel(submission=Submission.objects.get(pk=entry.pk))
    cancelled_at = time.monotonic()
    thread.join(60)
    assert outcome["v"] == "stopped"
    assert time.monotonic() - cancelled_at < 10
    entry = Submission.objects.get(pk=entry.pk)
    assert entry.status == "cancelled" and not entry.predictions
    assert EpochMetric.objects.filter(submission=entry).count() < 40


def test_an_unreachable_dataset_file_fails_the_entry_with_a_reason(competition, alice, settings_for):
    from podium.competitions.models import DatasetFile
    from podium.submissions.models import Submission

    DatasetFile.objects.filter(dataset=competition.dataset, name="train.csv").update(sha256="0" * 64)
    entry, token = queued_entry(competition, alice, TINY_CONFIG)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "failed"
    entry = Submission.objects.get(pk=entry.pk)
    assert entry.status == "failed"
    assert entry.error_message.startswith(
        "dataset problem while downloading the dataset: dataset file iris/train.csv: downloaded"
    ), entry.error_message
    assert "expected" in entry.error_message and "Traceback" not in entry.error_message


def test_a_token_for_another_attempt_cannot_claim(competition, alice, settings_for):
    from podium.submissions.models import Submission
    from podium.submissions.tokens import worker_token_make

    entry, _ = queued_entry(competition, alice, TINY_CONFIG)
    stale = worker_token_make(submission_id=entry.pk, attempt=2)
    assert run_submission(entry.pk, 1, stale, settings=settings_for) == "refused"
    assert Submission.objects.get(pk=entry.pk).status == "queued"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            "CUDA out of memory while training epoch 3; use a smaller batch_size or a smaller model",
        ),
        (SoftTimeLimitExceeded(), "training exceeded the worker's time limit while training epoch 3"),
        (
            ValueError("shapes (3,) and (4,) not aligned\nmore detail"),
            "the worker failed while training epoch 3: ValueError: shapes (3,) and (4,) not aligned",
        ),
    ],
)
def test_failure_messages_are_readable_and_say_where(exc, expected):
    progress = Progress(stage="training", epoch=2)
    assert describe_error(exc, progress) == expected


def test_the_trainers_own_messages_pass_through_unchanged():
    from workers.training import TrainError

    message = "training diverged: the train loss is nan at epoch 4 (train); try a lower learning rate"
    assert describe_error(TrainError(message), Progress(stage="training", epoch=3)) == message


def test_a_dataset_file_the_arrays_refuse_is_a_dataset_problem(tmp_path):
    """The real error of datasets.arrays, raised by reading a file that does not match its manifest."""
    from datasets.arrays import load_arrays
    from datasets.catalog import build as build_bundle

    bundle = build_bundle("iris")
    for name, body in bundle.files.items():
        (tmp_path / name).write_bytes(body)
    (tmp_path / "train.csv").write_bytes(b"id,nothing\n1,2\n")
    with pytest.raises(DatasetFileError) as exc:
        load_arrays(tmp_path, bundle.manifest)
    message = describe_error(exc.value, Progress(stage="downloading the dataset"))
    assert message == f"dataset problem while downloading the dataset: {exc.value}"


IMAGE_CONFIG = """\
version: 1
seed: 0
model:
  layers:
    - conv2d: {channels: 4, kernel: 3}
    - activation: relu
    - global_avg_pool: {}
    - linear: {units: auto}
train:
  epochs: 2
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
  augment:
    crop: {padding: 2}
    flip: {}
    color_jitter: {}
    cutout: {}
    mix: {name: cutmix}
    tta: flip
"""


def test_an_image_entry_with_augmentation_trains_on_the_arrays_alone_and_is_scored_and_ranked(
    transactional_db, alice, settings_for, tmp_path
):
    """An uploaded image dataset: the worker fetches the CSVs and decoded arrays (never the
    archives, never the hidden labels), trains with augmentation, and the entry is scored
    and on the board."""
    from django.utils import timezone

    from podium.competitions.services import competition_create, dataset_create_from_image_upload
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.models import Submission
    from podium.submissions.tasks import score_submission
    from tests.image_zips import labelled_set, zip_of

    members, train = labelled_set(40, classes=("cat", "dog", "owl"))
    test_members, test = labelled_set(12, start=100, classes=("cat", "dog", "owl"))
    dataset = dataset_create_from_image_upload(
        images_file=zip_of({**members, **test_members}),
        train_file=train,
        test_file=test,
        slug="pets",
        title="Pets",
    )
    now = timezone.now()
    competition = competition_create(
        dataset=dataset,
        slug="pets-runner",
        title="Pets",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
    )
    entry, token = queued_entry(competition, alice, IMAGE_CONFIG)
    assert run_submission(entry.pk, 1, token, settings=settings_for) == "done"
    cached = {p.name for p in (tmp_path / "cache").rglob("*") if p.is_file() and len(p.name) == 64}
    files = dataset.manifest["files"]
    assert cached == {
        files[n]["sha256"] for n in ("train.csv", "test.csv", "train_images.npy", "test_images.npy")
    }
    score_submission(entry.pk, 1)
    entry = Submission.objects.get(pk=entry.pk)
    assert entry.status == "scored" and entry.public_score is not None
    row = BoardEntry.objects.get(competition=competition, user=alice)
    assert row.submission_id == entry.pk and row.score == entry.public_score

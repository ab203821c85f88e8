"""Sweeps and ensembles through the HTTP API: the intake refuses each bad one by its path and
stores nothing; the validate answer counts the variants; the worker's epochs say their variant
and its report says which one predicts; the entry's API answers both."""

from __future__ import annotations

import io
import json

import pytest

from podium.submissions.models import EpochMetric, Kind, Status, Submission
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import make_submission, predictions_csv, sweep_report

pytestmark = pytest.mark.django_db

BASE = """\
version: 1
model:
  layers: [linear: {units: 8}, relu, dropout: 0.1, linear: {units: auto}]
train:
  epochs: 3
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""
SWEEP = BASE + "sweep: {grid: {lr: [0.01, 0.05]}}\n"


@pytest.fixture
def cup(db, alice):
    """Sweeps and ensembles of up to 2 models, 6 epochs and 120 parameters per entry."""
    competition = make_competition("sweep-cup", max_variants=2, budget_epochs=6, budget_params=120)
    make_participations(competition, alice)
    return competition


def submit(client, competition, config: str):
    return client.post(
        f"/api/competitions/{competition.slug}/submissions/", {"config": config}, format="multipart"
    )


def with_train(extra: str) -> str:
    return BASE.replace("  epochs: 3", "  epochs: 3\n" + extra)


@pytest.mark.parametrize(
    "config, path, message",
    [
        (with_train("  ensemble: {seeds: 0}"), "train.ensemble.seeds", "must be >= 1"),
        (
            BASE + "sweep: {grid: {lr: [0.01, 0.02, 0.03]}}\n",
            "sweep",
            "3 variants; this competition allows at most 2 per entry",
        ),
        (BASE + "sweep: {grid: {momentum: [0.9]}}\n", "sweep.grid.momentum", "is not sweepable"),
        (
            BASE + "sweep: {grid: {learning_rate: [0.1]}}\n",
            "sweep.grid.learning_rate",
            "unknown hyper-parameter",
        ),
        (BASE + "sweep: {grid: {lr: []}}\n", "sweep.grid.lr", "must have at least 1 item"),
        (
            BASE.replace("dropout: 0.1, ", "") + "sweep: {grid: {dropout: [0.1, 0.2]}}\n",
            "sweep.grid.dropout[0]",
            "the model has no dropout layer to set",
        ),
        (
            BASE + "sweep: {variants: [{epochs: 3}, {epochs: 4}]}\n",
            "sweep",
            "the 2 variants train 7 epochs in all (3 + 4); the competition's budget is 6 epochs per entry",
        ),
        (
            with_train("  ensemble: {seeds: 2}"),
            "train.ensemble.seeds",
            "2 seeds of a 67-parameter model are 134 parameters, more than the budget of 120",
        ),
    ],
    ids=[
        "seeds-below-one",
        "more-variants-than-allowed",
        "not-sweepable",
        "unknown-hyper-parameter",
        "empty-list",
        "no-dropout-layer",
        "epochs-over-budget",
        "ensemble-parameters-over-budget",
    ],
)
def test_the_intake_refuses_a_bad_sweep_or_ensemble_by_path_and_stores_nothing(
    cup, alice_api, broker, config, path, message
):
    answer = submit(alice_api, cup, config)
    assert answer.status_code == 400, answer.content
    problems = [(p.get("path"), p["message"]) for p in answer.json()["problems"]]
    assert any(p == path and m.startswith(message) for p, m in problems), problems
    assert Submission.objects.count() == 0
    assert broker.take("gpu") == []


def test_a_competition_of_single_models_refuses_sweeps(alice, alice_api, broker):
    single = make_competition("single-cup")  # max_variants: 1, the default
    make_participations(single, alice)
    answer = submit(alice_api, single, SWEEP)
    assert answer.status_code == 400
    assert answer.json()["problems"] == [
        {"path": "sweep", "message": "this competition trains one model per entry: no sweeps or ensembles"}
    ]
    assert Submission.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # a real commit sends the task
def test_a_sweep_within_the_budget_is_queued_and_its_dry_run_counts_its_variants(cup, alice_api, broker):
    dry = alice_api.post(
        f"/api/competitions/{cup.slug}/submissions/validate/", {"config": SWEEP}, format="multipart"
    )
    assert dry.status_code == 200, dry.content
    body = dry.json()
    assert (body["variants"], body["epochs"], body["budget"]["variants"]) == (2, 6, 2)
    answer = submit(alice_api, cup, SWEEP)
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "queued"
    stored = Submission.objects.get()
    assert stored.config["sweep"]["grid"]["lr"] == [0.01, 0.05]
    assert [name for name, _ in broker.take("gpu")] == ["workers.tasks.train_submission"]


# --- the worker's side -------------------------------------------------------------------


def worker_for(submission):
    from rest_framework.test import APIClient

    from podium.submissions.tokens import worker_token_make

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Worker {worker_token_make(submission_id=submission.pk, attempt=submission.attempt)}"
    )
    return client


@pytest.fixture
def running_sweep(cup, alice):
    return make_submission(
        cup,
        alice,
        kind=Kind.CONFIG,
        status=Status.RUNNING,
        attempt=1,
        config=_normalised(SWEEP),
        config_text=SWEEP,
    )


def _normalised(text: str) -> dict:
    from workers.spec import parse_config

    return parse_config(text).model_dump(mode="json")


def epochs_url(submission) -> str:
    return f"/api/worker/submissions/{submission.pk}/epochs/"


def test_each_variants_epochs_are_stored_apart_and_once(running_sweep):
    w = worker_for(running_sweep)
    for variant in (0, 1):
        for epoch in (1, 2):
            data = {"train_loss": 1.0 / epoch + variant, "variant": variant}
            answer = w.post(
                epochs_url(running_sweep), {"attempt": 1, "epoch": epoch, "data": data}, format="json"
            )
            assert answer.status_code == 200, answer.content
    # A repeat of (variant 1, epoch 2) changes nothing.
    repeat = {"attempt": 1, "epoch": 2, "data": {"train_loss": 99.0, "variant": 1}}
    assert w.post(epochs_url(running_sweep), repeat, format="json").status_code == 200
    stored = EpochMetric.objects.filter(submission=running_sweep).order_by("variant", "epoch")
    assert [(m.variant, m.epoch, m.data) for m in stored] == [
        (0, 1, {"train_loss": 1.0}),
        (0, 2, {"train_loss": 0.5}),
        (1, 1, {"train_loss": 2.0}),
        (1, 2, {"train_loss": 1.5}),
    ]


@pytest.mark.parametrize("variant", [-1, 32, "1", True, 1.5])
def test_an_epoch_of_no_variant_is_refused(running_sweep, variant):
    answer = worker_for(running_sweep).post(
        epochs_url(running_sweep), {"attempt": 1, "epoch": 1, "data": {"variant": variant}}, format="json"
    )
    assert answer.status_code == 400
    assert "'variant' must be a whole number from 0 to 31" in str(answer.json())
    assert not EpochMetric.objects.exists()


REPORT = sweep_report()


def post_predictions(submission, report):
    body = {
        "attempt": 1,
        "file": io.BytesIO(predictions_csv(submission.competition)),
        "report": json.dumps(report),
    }
    return worker_for(submission).post(
        f"/api/worker/submissions/{submission.pk}/predictions/", body, format="multipart"
    )


def test_the_report_says_which_variant_predicts_and_the_entry_answers_it(running_sweep, alice_api):
    for variant in (0, 1):
        EpochMetric.objects.create(
            submission=running_sweep, attempt=1, variant=variant, epoch=1, data={"train_loss": 1.0}
        )
    assert post_predictions(running_sweep, REPORT).status_code == 202
    running_sweep.refresh_from_db()
    assert running_sweep.training_report == REPORT
    body = alice_api.get(f"/api/submissions/{running_sweep.pk}/").json()
    assert body["training_report"]["variants"]["kept"] == 1
    assert body["epochs"] == [
        {"epoch": 1, "variant": 0, "train_loss": 1.0},
        {"epoch": 1, "variant": 1, "train_loss": 1.0},
    ]


@pytest.mark.parametrize(
    "variants",
    [
        {**REPORT["variants"], "kind": "bagging"},
        {**REPORT["variants"], "kept": 40},
        {**REPORT["variants"], "outcomes": [{"label": "no index"}]},
    ],
    ids=["unknown-kind", "kept-out-of-range", "outcome-without-index"],
)
def test_a_report_whose_variants_are_not_a_variants_report_is_refused(running_sweep, variants):
    answer = post_predictions(running_sweep, {**REPORT, "variants": variants})
    assert answer.status_code == 400
    running_sweep.refresh_from_db()
    assert running_sweep.status == Status.RUNNING and running_sweep.training_report is None

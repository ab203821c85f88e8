"""Lab runs end to end through the worker callbacks (no worker process): the generic run layer
the ablations and the platform's studies share. Held-out rows are drawn on each tier on its
own and must agree; hidden labels never reach the worker; tokens of entries and runs never mix."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from common.protocol import Budget, EvaluateOrder, LabClaimOrder
from podium.lab import services
from podium.lab.models import LabRun, RunStatus
from podium.submissions.tokens import worker_token_make
from tests.factories.submissions import TINY_CONFIG
from tests.platform.lab.conftest import LAB_TASK, holdout_csv, lab_url, worker

pytestmark = pytest.mark.django_db


def tiny_config() -> dict:
    import yaml

    return yaml.safe_load(TINY_CONFIG)


def create_runs(
    competition, user, broker, *, evaluate="holdout", keys=("baseline", "other"), seed=7, ablation=None
):
    runs = services.lab_runs_create(
        owner=user,
        dataset=competition.dataset,
        configs=[(key, f"run {key}", "", tiny_config()) for key in keys],
        evaluate=evaluate,
        seed=seed,
        budget=Budget(epochs=30, params=5_000_000, seconds=600),
        metric="accuracy",
        study_key="" if ablation else "test-study",
        ablation=ablation,
    )
    sent = broker.take("gpu")
    assert [(name, args[:2]) for name, args in sent] == [(LAB_TASK, [run.pk, 1]) for run in runs]
    return runs, [args[2] for _, args in sent]


def claim(run, token) -> dict:
    response = worker(token).post(lab_url(run.pk, "claim"), {"attempt": 1}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def post_predictions(run, token, body: bytes):
    return worker(token).post(
        lab_url(run.pk, "predictions"),
        {"attempt": "1", "file": io.BytesIO(body)},
        format="multipart",
    )


def test_runs_are_sent_on_the_training_queue_and_claimed_with_where_to_evaluate(competition, alice, broker):
    (run, _), (token, _) = create_runs(competition, alice, broker)
    order = claim(run, token)
    assert set(order) == set(LabClaimOrder.__annotations__)
    assert set(order["evaluate"]) == set(EvaluateOrder.__annotations__)
    assert order["lab_run_id"] == run.pk and order["submission_id"] is None
    assert order["evaluate"] == {"on": "holdout", "fraction": 0.2, "seed": 7}
    assert order["metric"]["name"] == "accuracy"
    assert order["budget"] == {"epochs": 30, "params": 5_000_000, "seconds": 600, "variants": None}
    assert {f["name"] for f in order["dataset"]["files"]} == {
        "train.csv",
        "test.csv",
        "sample_submission.csv",
    }
    body = str(order)
    assert "test_labels" not in body
    # The files download through the run's own callbacks; the hidden labels are never served.
    for entry in order["dataset"]["files"]:
        assert entry["path"].startswith(f"/api/worker/lab-runs/{run.pk}/files/")
        assert worker(token).get(entry["path"]).status_code == 200
    hidden = f"/api/worker/lab-runs/{run.pk}/files/{competition.dataset.slug}/test_labels.csv"
    assert worker(token).get(hidden).status_code == 404
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.parameters == 4 * 8 + 8 + 8 * 3 + 3


def test_tokens_of_entries_and_runs_never_open_each_other(competition, alice, broker):
    (run, other), (token, _) = create_runs(competition, alice, broker)
    entry_token = worker_token_make(submission_id=run.pk, attempt=1)
    assert (
        worker(entry_token).post(lab_url(run.pk, "claim"), {"attempt": 1}, format="json").status_code == 401
    )
    assert (
        worker(token)
        .post(f"/api/worker/submissions/{run.pk}/claim/", {"attempt": 1}, format="json")
        .status_code
        == 401
    )
    assert worker(token).post(lab_url(other.pk, "claim"), {"attempt": 1}, format="json").status_code == 403
    assert worker(token).post(lab_url(run.pk, "claim"), {"attempt": 2}, format="json").status_code == 403


def an_ablation(competition, user):
    """An ablation row of a scored model entry, as ablation_create stores it before its runs."""
    from podium.lab.models import Ablation
    from podium.submissions.models import Kind, Status
    from tests.factories.submissions import make_submission

    entry = make_submission(competition, user, kind=Kind.CONFIG, config=tiny_config(), status=Status.SCORED)
    return Ablation.objects.create(
        owner=user,
        submission=entry,
        competition=competition,
        holdout_fraction=0.2,
        holdout_seed=7,
        model_epochs=60,
    )


def test_held_out_predictions_are_scored_and_paired_with_the_baseline(competition, alice, broker):
    ablation = an_ablation(competition, alice)
    (base, other), (t_base, t_other) = create_runs(competition, alice, broker, ablation=ablation)
    claim(base, t_base)
    claim(other, t_other)
    record = {"train_loss": 0.5, "val_loss": 0.6, "seconds": 0.25, "grad_norms": {"0.linear": 0.1}}
    for token, run in ((t_base, base), (t_other, other)):
        answer = worker(token).post(
            lab_url(run.pk, "epochs"),
            {"attempt": 1, "records": [{"epoch": 1, "data": record}, {"epoch": 2, "data": record}]},
            format="json",
        )
        assert answer.status_code == 200, answer.content
    # A retried post keeps the first records.
    again = {"attempt": 1, "epoch": 1, "data": {**record, "train_loss": 9.0}}
    assert worker(t_base).post(lab_url(base.pk, "epochs"), again, format="json").status_code == 200

    perfect = holdout_csv("iris", fraction=0.2, seed=7)
    worse = holdout_csv("iris", fraction=0.2, seed=7, wrong_every=3)
    assert post_predictions(other, t_other, worse).status_code == 202
    other.refresh_from_db()
    assert other.status == RunStatus.DONE and other.diff is None  # no baseline yet
    assert post_predictions(base, t_base, perfect).status_code == 202
    assert post_predictions(base, t_base, perfect).status_code == 202  # a repeat is a no-op
    base.refresh_from_db()
    other.refresh_from_db()
    assert base.score == 1.0 and base.score_low == 1.0
    assert base.epochs["1"]["train_loss"] == 0.5 and base.seconds == 0.5
    # A fifth of iris's training rows held out, every third prediction wrong.
    n = len(perfect.splitlines()) - 1
    wrong = len(range(0, n, 3))
    assert other.score == pytest.approx((n - wrong) / n)
    assert other.diff == pytest.approx(-wrong / n)
    assert other.diff_low <= other.diff <= other.diff_high < 0
    assert other.beyond_noise is True
    assert base.diff is None
    # A study pairs its runs itself, with the same function.
    from podium.lab.scoring import paired_difference

    assert paired_difference(base, other) == pytest.approx((other.diff, other.diff_low, other.diff_high))


def test_predictions_of_other_rows_fail_the_run_with_the_problems(competition, alice, broker):
    (run,), (token,) = create_runs(competition, alice, broker, keys=("baseline",))
    claim(run, token)
    # The test ids are not the held-out rows: a worker that predicted the test set is refused.
    wrong_seed = holdout_csv("iris", fraction=0.2, seed=8)
    answer = post_predictions(run, token, wrong_seed)
    assert answer.status_code == 400, answer.content
    assert answer.json()["problems"]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "not valid" in run.error_message
    assert not run.predictions


def test_test_mode_scores_every_hidden_test_row(competition, alice, broker):
    from tests.factories.submissions import predictions_csv

    (run,), (token,) = create_runs(competition, alice, broker, evaluate="test", keys=("baseline",))
    order = claim(run, token)
    assert order["evaluate"] == {"on": "test", "fraction": None, "seed": None}
    answer = post_predictions(run, token, predictions_csv(competition, label="setosa"))
    assert answer.status_code == 202, answer.content
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and 0 < run.score < 1 and run.score_low <= run.score <= run.score_high


def test_bad_configs_name_their_run_and_store_nothing(competition, alice, broker):
    bad = tiny_config()
    bad["train"]["epochs"] = 500  # over the budget's 30
    with pytest.raises(services.ApplicationError) as refused:
        services.lab_runs_create(
            owner=alice,
            dataset=competition.dataset,
            configs=[("baseline", "", "", tiny_config()), ("too-long", "", "", bad)],
            evaluate="holdout",
            seed=1,
            budget=Budget(epochs=30),
        )
    assert any("too-long" in p.message for p in refused.value.problems)
    for evaluate, fraction in (("everything", 0.2), ("holdout", 0.9)):
        with pytest.raises(services.ApplicationError):
            services.lab_runs_create(
                owner=alice,
                dataset=competition.dataset,
                configs=[("baseline", "", "", tiny_config())],
                evaluate=evaluate,
                seed=1,
                budget=Budget(epochs=30),
                holdout_fraction=fraction,
            )
    broker.commit_pending()
    assert not LabRun.objects.exists() and broker.take("gpu") == []


def test_silent_runs_are_requeued_with_a_new_token_then_failed(competition, alice, broker, settings):
    (run,), (token,) = create_runs(competition, alice, broker, keys=("baseline",))
    claim(run, token)
    settings.PODIUM_MAX_ATTEMPTS = 2
    run.refresh_from_db()
    stale = run.heartbeat_at + settings.PODIUM_HEARTBEAT_TIMEOUT + timedelta(seconds=1)
    assert services.lab_runs_reap_stale(now=stale) == {"requeued": 1, "failed": 0}
    sent = broker.take("gpu")
    assert [(name, args[:2]) for name, args in sent] == [(LAB_TASK, [run.pk, 2])]
    # The old attempt's worker is told to stop; the new token claims.
    beat = worker(token).post(lab_url(run.pk, "heartbeat"), {"attempt": 1}, format="json")
    assert beat.status_code == 409 and beat.json()["continue"] is False
    new_token = sent[0][1][2]
    assert worker(new_token).post(lab_url(run.pk, "claim"), {"attempt": 2}, format="json").status_code == 200
    run.refresh_from_db()
    stale = run.heartbeat_at + settings.PODIUM_HEARTBEAT_TIMEOUT + timedelta(seconds=1)
    assert services.lab_runs_reap_stale(now=stale) == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped responding 2 times" in run.error_message


def test_a_lost_message_is_sent_again(competition, alice, broker, settings):
    (run,), _ = create_runs(competition, alice, broker, keys=("baseline",))
    assert services.lab_runs_reap_stale(now=run.queued_at + timedelta(seconds=5)) == {
        "requeued": 0,
        "failed": 0,
    }
    late = run.queued_at + settings.PODIUM_QUEUED_TIMEOUT + timedelta(seconds=1)
    assert services.lab_runs_reap_stale(now=late) == {"requeued": 1, "failed": 0}
    assert [args[:2] for _, args in broker.take("gpu")] == [[run.pk, 2]]


def test_the_reap_task_is_scheduled_on_the_maintenance_queue():
    from podium.celery import _beat_schedule

    entry = _beat_schedule()["lab-reap-stale-runs"]
    assert entry["task"] == "podium.lab.tasks.reap_stale_runs" and entry["options"]["queue"] == "maintenance"

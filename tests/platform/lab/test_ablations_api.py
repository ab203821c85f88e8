"""The ablation API through HTTP: options, start, table, cancel; who may do and see what (the
entry's owner, another participant, an anonymous visitor, a host, an admin); bad input named
and nothing stored; the daily quota; fixed query counts on lists; runs that are not entries."""

from __future__ import annotations

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from podium.lab.models import Ablation, LabRun, RunStatus
from podium.leaderboards.models import BoardEntry
from podium.submissions.models import Kind, Status, Submission
from tests.conftest import _api_client
from tests.factories.accounts import make_user
from tests.factories.submissions import TINY_CONFIG, make_submission
from tests.platform.lab.conftest import LAB_TASK, lab_url, start_ablation, worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def host_api(competition, admin_user):
    from podium.competitions.services import competition_host_add

    host = make_user("hannah")
    competition_host_add(competition=competition, user=host, added_by=admin_user)
    return _api_client(host)


def options_url(entry) -> str:
    return f"/api/submissions/{entry.pk}/ablations/options/"


def ablations_url(entry) -> str:
    return f"/api/submissions/{entry.pk}/ablations/"


def test_the_owner_sees_the_variants_and_the_quota(alice_api, entry):
    answer = alice_api.get(options_url(entry))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    keys = [v["key"] for v in body["variants"]]
    assert "activation:sigmoid" in keys and "optimizer:sgd" in keys
    assert all(v["technique"] and v["change"] for v in body["variants"])
    assert body["quota"]["daily"] == 1200 and body["quota"]["used"] == 0
    assert body["quota"]["remaining"] == 1200 and body["quota"]["epochs_per_run"] == 30
    assert body["quota"]["resets_at"].endswith("T00:00:00Z")


def test_only_the_owner_may_see_options_or_start_ablation(
    entry, bob_api, anon_api, host_api, admin_api, broker
):
    for api, expected in ((bob_api, 404), (host_api, 404), (admin_api, 404), (anon_api, 401)):
        assert api.get(options_url(entry)).status_code == expected
        assert start_ablation(api, entry, ["activation:sigmoid"]).status_code == expected
    assert not Ablation.objects.exists() and broker.take("gpu") == []


def test_only_a_scored_model_entry_can_be_ablated(competition, alice, alice_api, broker):
    file_entry = make_submission(competition, alice, status=Status.SCORED)
    queued = make_submission(competition, alice, kind=Kind.CONFIG, config=yaml.safe_load(TINY_CONFIG))
    for other in (file_entry, queued):
        answer = start_ablation(alice_api, other, ["activation:sigmoid"])
        assert answer.status_code == 400 and "Only a scored model entry" in answer.json()["detail"]
        assert alice_api.get(options_url(other)).status_code == 400


def test_starting_trains_a_baseline_and_each_variant_on_the_training_queue(
    competition, alice, alice_api, entry, broker
):
    entries_before = Submission.objects.count()
    limits_before = alice_api.get(f"/api/competitions/{competition.slug}/submissions/limits/").json()
    answer = start_ablation(alice_api, entry, ["activation:sigmoid", "optimizer:sgd"])
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["submission"] == entry.pk and body["status"] == "queued" and body["model_epochs"] == 90
    assert body["holdout"] == {"fraction": 0.2, "seed": competition.split_seed}
    assert [r["key"] for r in body["rows"]] == ["baseline", "activation:sigmoid", "optimizer:sgd"]
    assert body["rows"][1]["technique"] == "activation" and "sigmoid" in body["rows"][1]["change"].lower()
    assert set(body["curves"]) == {"baseline", "activation:sigmoid", "optimizer:sgd"}
    runs = list(LabRun.objects.filter(ablation_id=body["id"]).order_by("id"))
    assert all(r.evaluate == "holdout" and r.status == RunStatus.QUEUED for r in runs)
    assert runs[0].config == entry.config
    assert {(name, tuple(args[:2])) for name, args in broker.take("gpu")} == {
        (LAB_TASK, (r.pk, 1)) for r in runs
    }
    # Ablation runs are not entries: no row, no limit used, no board row.
    assert Submission.objects.count() == entries_before
    limits = alice_api.get(f"/api/competitions/{competition.slug}/submissions/limits/").json()
    assert limits == limits_before
    assert not BoardEntry.objects.filter(competition=competition).exists()
    assert alice_api.get(options_url(entry)).json()["quota"]["used"] == 90


@pytest.mark.parametrize(
    "keys, message, path",
    [
        (["activation:nope"], "activation:nope", "variants[0]"),
        (["optimizer:sgd", "optimizer:sgd"], "repeats", "variants[1]"),
        ([], "at least one", "variants"),
        (["made-up"], "made-up", "variants[0]"),
    ],
)
def test_bad_variants_are_named_and_nothing_is_stored(alice_api, entry, broker, keys, message, path):
    answer = start_ablation(alice_api, entry, keys)
    assert answer.status_code == 400, answer.content
    problems = answer.json()["problems"]
    assert any(message in p["message"] and p.get("path") == path for p in problems), problems
    assert not Ablation.objects.exists() and not LabRun.objects.exists()
    assert broker.take("gpu") == []


def test_a_body_without_variants_is_refused(alice_api, entry, broker):
    answer = alice_api.post(ablations_url(entry), {"variant": "x"}, format="json")
    assert answer.status_code == 400 and "variants" in str(answer.json())
    assert not Ablation.objects.exists()


def test_the_daily_quota_refuses_with_what_was_used_and_when_it_resets(
    competition, alice_api, bob, entry, broker
):
    competition.lab_daily_epochs = 120  # four runs of the budget's 30 epochs
    competition.save(update_fields=["lab_daily_epochs"])
    assert start_ablation(alice_api, entry, ["activation:sigmoid", "optimizer:sgd"]).status_code == 201
    answer = start_ablation(alice_api, entry, ["optimizer:sgd"])
    assert answer.status_code == 429, answer.content
    body = answer.json()
    assert body["code"] == "lab_quota" and (body["quota"], body["used"], body["needed"]) == (120, 90, 60)
    assert body["resets_at"].endswith("T00:00:00Z") and int(answer["Retry-After"]) > 0
    assert "90 of 120" in body["detail"]
    assert Ablation.objects.count() == 1 and LabRun.objects.count() == 3
    # Another participant's quota is their own.
    bobs = make_submission(competition, bob, kind=Kind.CONFIG, config=entry.config, status=Status.SCORED)
    assert start_ablation(_api_client(bob), bobs, ["optimizer:sgd"]).status_code == 201


def test_a_phase_inherits_the_quota_and_zero_switches_ablations_off(competition, alice_api, entry, broker):
    phase = competition.phases.get(number=1)
    phase.lab_daily_epochs = 0
    phase.save(update_fields=["lab_daily_epochs"])
    answer = start_ablation(alice_api, entry, ["optimizer:sgd"])
    assert answer.status_code == 403 and "off" in answer.json()["detail"]
    assert alice_api.get(options_url(entry)).json()["quota"]["daily"] == 0
    assert not Ablation.objects.exists()


def test_only_its_owner_and_staff_see_an_ablation(
    alice_api, bob_api, anon_api, host_api, admin_api, entry, broker
):
    ablation_id = start_ablation(alice_api, entry, ["optimizer:sgd"]).json()["id"]
    assert alice_api.get(f"/api/ablations/{ablation_id}/").status_code == 200
    assert admin_api.get(f"/api/ablations/{ablation_id}/").status_code == 200
    for api, expected in ((bob_api, 404), (host_api, 404), (anon_api, 401)):
        assert api.get(f"/api/ablations/{ablation_id}/").status_code == expected
        assert api.post(f"/api/ablations/{ablation_id}/cancel/").status_code == expected
    assert bob_api.get(ablations_url(entry)).json() == []
    assert len(admin_api.get(ablations_url(entry)).json()) == 1
    assert admin_api.post(f"/api/ablations/{ablation_id}/cancel/").status_code == 404  # the owner's alone
    assert not LabRun.objects.filter(status=RunStatus.CANCELLED).exists()


def test_the_list_costs_the_same_queries_for_one_ablation_or_many(alice_api, entry, broker):
    start_ablation(alice_api, entry, ["optimizer:sgd"])

    def listed() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            answer = alice_api.get(ablations_url(entry))
        assert answer.status_code == 200
        return len(answer.json()), len(queries)

    one, few = listed()
    start_ablation(alice_api, entry, ["activation:sigmoid", "optimizer:sgd"])
    start_ablation(alice_api, entry, ["activation:tanh"])
    three, many = listed()
    assert (one, three) == (1, 3) and many == few


def test_cancel_stops_the_runs_and_the_worker(alice_api, entry, broker):
    answer = start_ablation(alice_api, entry, ["optimizer:sgd"])
    ablation_id = answer.json()["id"]
    sent = broker.take("gpu")
    running, token = LabRun.objects.get(pk=sent[0][1][0]), sent[0][1][2]
    assert worker(token).post(lab_url(running.pk, "claim"), {"attempt": 1}, format="json").status_code == 200
    cancelled = alice_api.post(f"/api/ablations/{ablation_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert {r["status"] for r in cancelled.json()["rows"]} == {"cancelled"}
    beat = worker(token).post(lab_url(running.pk, "heartbeat"), {"attempt": 1}, format="json")
    assert beat.status_code == 409 and beat.json()["continue"] is False
    assert alice_api.post(f"/api/ablations/{ablation_id}/cancel/").status_code == 200  # again: no change


def test_the_ablation_status_follows_its_runs(alice_api, entry, broker):
    ablation_id = start_ablation(alice_api, entry, ["optimizer:sgd", "activation:sigmoid"]).json()["id"]
    runs = {r.key: r for r in LabRun.objects.filter(ablation_id=ablation_id)}

    def status() -> str:
        return alice_api.get(f"/api/ablations/{ablation_id}/").json()["status"]

    assert status() == "queued"
    LabRun.objects.filter(pk=runs["baseline"].pk).update(status=RunStatus.RUNNING)
    assert status() == "running"
    LabRun.objects.filter(pk=runs["baseline"].pk).update(status=RunStatus.DONE)
    LabRun.objects.filter(pk=runs["optimizer:sgd"].pk).update(status=RunStatus.DONE)
    LabRun.objects.filter(pk=runs["activation:sigmoid"].pk).update(
        status=RunStatus.FAILED, error_message="diverged"
    )
    body = alice_api.get(f"/api/ablations/{ablation_id}/").json()
    assert body["status"] == "done" and body["rows"][2]["error"] == "diverged"
    LabRun.objects.filter(pk=runs["baseline"].pk).update(status=RunStatus.FAILED)
    assert status() == "failed"


def test_variants_over_the_budget_are_listed_as_not_fitting_and_refused_by_key(
    competition, alice_api, entry, broker
):
    assert all(
        v["fits"] and v["problem"] is None for v in alice_api.get(options_url(entry)).json()["variants"]
    )
    competition.budget_params = 10  # below the entry's 67 parameters: the organisers tightened it
    competition.save(update_fields=["budget_params"])
    variants = alice_api.get(options_url(entry)).json()["variants"]
    assert variants and not any(v["fits"] for v in variants)
    assert all("param" in v["problem"] for v in variants)
    answer = start_ablation(alice_api, entry, ["optimizer:sgd"])
    assert answer.status_code == 400, answer.content
    messages = [p["message"] for p in answer.json()["problems"]]
    assert any(m.startswith("baseline: ") for m in messages) and any(
        m.startswith("optimizer:sgd: ") for m in messages
    )
    assert not Ablation.objects.exists() and not LabRun.objects.exists() and broker.take("gpu") == []

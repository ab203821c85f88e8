"""The dry-run validation endpoint (nothing stored, no limit used) and what an entry's answer
says about itself: whether it is a final pick, and why a score is blank."""

from __future__ import annotations

import io

import pytest

from podium.submissions.models import Kind, Status, Submission
from tests.factories.submissions import TINY_CONFIG, make_submission, predictions_csv

pytestmark = pytest.mark.django_db


def validate(client, competition, **data):
    if "file" in data:
        data["file"] = io.BytesIO(data["file"])
        data["file"].name = "predictions.csv"
    return client.post(
        f"/api/competitions/{competition.slug}/submissions/validate/", data, format="multipart"
    )


def test_a_valid_config_is_counted_and_nothing_is_stored(competition, alice_api):
    answer = validate(alice_api, competition, config=TINY_CONFIG)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    # iris: 4 features -> 8 -> 3 classes
    assert body == {
        "kind": "config",
        "valid": True,
        "parameters": 4 * 8 + 8 + 8 * 3 + 3,
        "epochs": 2,
        "variants": 1,
        "budget": {
            "epochs": competition.budget_epochs,
            "params": competition.budget_params,
            "seconds": competition.budget_seconds,
            "variants": competition.max_variants,
        },
        "warnings": [],
    }
    assert Submission.objects.count() == 0
    limits = alice_api.get(f"/api/competitions/{competition.slug}/submissions/limits/").json()
    assert limits["daily"]["used"] == 0


def test_an_over_budget_config_lists_its_problem_without_claiming_a_store(competition, alice_api):
    too_long = TINY_CONFIG.replace("epochs: 2", f"epochs: {competition.budget_epochs + 1}")
    answer = validate(alice_api, competition, config=too_long)
    assert answer.status_code == 400
    body = answer.json()
    assert body["detail"] == "The model config does not fit this competition: 1 problem(s)."
    assert "nothing was stored" not in answer.content.decode()
    assert [p["path"] for p in body["problems"]] == ["train.epochs"]
    assert Submission.objects.count() == 0


def test_a_broken_config_names_the_path(competition, alice_api):
    answer = validate(
        alice_api, competition, config="version: 1\nmodel:\n  layers:\n    - linear: {units: -1}\n"
    )
    assert answer.status_code == 400
    assert any(p.get("path", "").startswith("model.layers[0]") for p in answer.json()["problems"])


def test_a_predictions_file_is_checked_against_the_test_ids(competition, alice_api):
    good = validate(alice_api, competition, file=predictions_csv(competition))
    assert good.status_code == 200 and good.json() == {"kind": "predictions", "valid": True}
    short = validate(alice_api, competition, file=predictions_csv(competition, drop=3))
    assert short.status_code == 400
    assert "3 test ids have no prediction" in short.json()["problems"][0]["message"]
    assert Submission.objects.count() == 0


def test_validation_needs_exactly_one_entry_and_a_sign_in(competition, alice_api, anon_api):
    assert validate(alice_api, competition).json()["detail"].startswith("Send exactly one of 'file'")
    assert validate(anon_api, competition, config=TINY_CONFIG).status_code in (401, 403)


def test_a_kind_the_competition_refuses_is_named(competition, alice_api):
    competition.accepts_configs = False
    competition.save(update_fields=["accepts_configs"])
    answer = validate(alice_api, competition, config=TINY_CONFIG)
    assert answer.status_code == 400
    assert (
        answer.json()["detail"]
        == "This competition does not accept model configs; submit a predictions file."
    )


def test_a_draft_competition_is_not_found_for_participants(competition, alice_api, admin_api):
    competition.is_published = False
    competition.save(update_fields=["is_published"])
    assert validate(alice_api, competition, config=TINY_CONFIG).status_code == 404
    assert validate(admin_api, competition, config=TINY_CONFIG).status_code == 200


def _scored(competition, user, *, pick=False):
    return make_submission(
        competition, user, status=Status.SCORED, public_score=0.9, private_score=0.8, is_final_pick=pick
    )


def test_entries_say_which_are_final_picks(competition, alice, alice_api):
    picked = _scored(competition, alice, pick=True)
    other = _scored(competition, alice)
    rows = alice_api.get(f"/api/competitions/{competition.slug}/submissions/").json()["results"]
    assert {r["id"]: r["is_final_pick"] for r in rows} == {picked.pk: True, other.pk: False}
    assert alice_api.get(f"/api/submissions/{picked.pk}/").json()["is_final_pick"] is True


def test_a_blank_score_says_why(competition, alice, alice_api, admin_api):
    entry = _scored(competition, alice)
    shown = alice_api.get(f"/api/submissions/{entry.pk}/").json()
    assert shown["public_score"] == 0.9 and shown["private_score"] is None
    assert shown["scores_withheld"] == "private"  # the private split waits for the reveal
    competition.ladder_enabled = True
    competition.ladder_step = 0.01
    competition.save(update_fields=["ladder_enabled", "ladder_step"])
    shown = alice_api.get(f"/api/submissions/{entry.pk}/").json()
    assert shown["public_score"] is None and shown["scores_withheld"] == "ladder"
    staff = admin_api.get(
        f"/api/submissions/{entry.pk}/"
    ).json()  # staff see public scores, not private ones yet
    assert staff["public_score"] == 0.9 and staff["scores_withheld"] == "private"
    queued = make_submission(competition, alice, kind=Kind.CONFIG, status=Status.QUEUED)
    assert alice_api.get(f"/api/submissions/{queued.pk}/").json()["scores_withheld"] is None

"""Several metrics per competition: the primary ranks, the others are computed by the scorer
in the same pass and shown as columns on the entry, the board API, the CSV export and the
pages, under the same rules as the primary score (private ones only after the reveal)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.utils import timezone
from sklearn import metrics as skm

from podium.submissions.models import Status, Submission
from tests.factories.competitions import make_competition, make_participations
from tests.platform.submissions.test_scoring import run_delivered, submit

pytestmark = pytest.mark.django_db

EXTRA = ["accuracy", "macro_f1", "roc_auc"]


@pytest.fixture
def multi(db, alice, bob):
    competition = make_competition("iris-columns", metric="log_loss", extra_metrics=EXTRA)
    make_participations(competition, alice, bob)
    return competition


def _key(competition):
    from podium.competitions.selectors import answer_key_for

    return answer_key_for(competition)


def _proba_file(competition, seed: int) -> tuple[bytes, np.ndarray]:
    """Probabilities as people write them: 6 decimals, so rows sum to 1 +- a few 1e-6."""
    key = _key(competition)
    classes = competition.dataset.manifest["classes"]
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(classes)), len(key))
    p[np.arange(len(key)), key.targets] += rng.random(len(key))
    p = np.round(p / p.sum(axis=1, keepdims=True), 6)
    lines = [",".join(["id", *classes])]
    lines += [",".join([key.ids[i], *(f"{v:.6f}" for v in p[i])]) for i in range(len(key))]
    return ("\n".join(lines) + "\n").encode(), p / p.sum(axis=1, keepdims=True)


def _expected(competition, p: np.ndarray) -> dict:
    key = _key(competition)
    out = {}
    for name, split in (("public", key.public), ("private", ~key.public)):
        y, q = key.targets[split], p[split]
        out[name] = {
            "log_loss": skm.log_loss(y, q, labels=[0, 1, 2]),
            "accuracy": skm.accuracy_score(y, q.argmax(axis=1)),
            "macro_f1": skm.f1_score(y, q.argmax(axis=1), average="macro"),
            "roc_auc": skm.roc_auc_score(y, q, multi_class="ovr", labels=[0, 1, 2]),
        }
    return out


def test_the_scorer_computes_every_metric_in_one_pass(multi, alice_api, broker):
    body, p = _proba_file(multi, seed=1)
    entry_id = submit(alice_api, multi, body)
    assert run_delivered(broker) == [("podium.submissions.tasks.score_submission", [entry_id, 1])]
    entry = Submission.objects.get(pk=entry_id)
    assert entry.status == Status.SCORED
    expected = _expected(multi, p)
    assert entry.public_score == pytest.approx(expected["public"]["log_loss"], abs=1e-9)
    assert entry.private_score == pytest.approx(expected["private"]["log_loss"], abs=1e-9)
    assert set(entry.extra_scores) == set(EXTRA)  # jsonb keeps no key order: boards follow extra_metrics
    for name in EXTRA:
        assert entry.extra_scores[name]["public"] == pytest.approx(expected["public"][name], abs=1e-9)
        assert entry.extra_scores[name]["private"] == pytest.approx(expected["private"][name], abs=1e-9)


def test_board_api_csv_and_entry_show_the_columns_by_the_rules(
    multi, alice, alice_api, bob_api, anon_api, broker
):
    entries = {}
    for client, seed in ((alice_api, 1), (bob_api, 2)):
        body, _ = _proba_file(multi, seed)
        entries[client] = submit(client, multi, body)
    run_delivered(broker)
    stored = {s.pk: s for s in Submission.objects.all()}

    for client in (alice_api, bob_api, anon_api):
        page = client.get(f"/api/competitions/{multi.slug}/leaderboard/").json()
        assert [m["name"] for m in page["extra_metrics"]] == EXTRA
        assert page["extra_metrics"][0] == {"name": "accuracy", "title": "Accuracy", "higher_is_better": True}
        for row in page["results"]:
            extras = stored[row["submission_id"]].extra_scores
            assert row["extra_scores"] == {name: extras[name]["public"] for name in EXTRA}

    exported = anon_api.get(f"/api/competitions/{multi.slug}/leaderboard/?format=csv").content.decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][-3:] == EXTRA
    first = stored[int(page["results"][0]["submission_id"])]
    assert [float(v) for v in rows[1][-3:]] == pytest.approx([first.extra_scores[n]["public"] for n in EXTRA])

    # Private scores of the other metrics follow the primary's rule: hidden while open.
    mine = alice_api.get(f"/api/submissions/{entries[alice_api]}/").json()
    assert all(v["private"] is None and v["public"] is not None for v in mine["extra_scores"].values())
    assert alice_api.get(f"/api/competitions/{multi.slug}/leaderboard/?board=private").status_code == 403
    multi.ends_at = multi.private_revealed_at = timezone.now()
    multi.save()
    private = anon_api.get(f"/api/competitions/{multi.slug}/leaderboard/?board=private").json()
    for row in private["results"]:
        extras = stored[row["submission_id"]].extra_scores
        assert row["extra_scores"] == {name: extras[name]["private"] for name in EXTRA}
    mine = alice_api.get(f"/api/submissions/{entries[alice_api]}/").json()
    assert mine["extra_scores"] == stored[entries[alice_api]].extra_scores


def test_the_columns_cost_no_query(multi, alice_api, broker, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plain = make_competition("iris-plain", metric="log_loss")
    body, _ = _proba_file(multi, seed=3)
    submit(alice_api, multi, body)
    run_delivered(broker)
    counts = []
    for competition in (multi, plain):
        with CaptureQueriesContext(connection) as queries:
            assert alice_api.get(f"/api/competitions/{competition.slug}/leaderboard/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_page_and_the_rules_show_the_metrics(multi, alice, client, alice_api, broker):
    body, _ = _proba_file(multi, seed=4)
    submit(alice_api, multi, body)
    run_delivered(broker)
    board = client.get(f"/c/{multi.slug}/leaderboard/").content.decode()
    for title in ("Log loss", "Accuracy", "Macro F1", "ROC AUC (binary, or one-vs-rest macro)"):
        assert f">{title}</th>" in board
    row = Submission.objects.get().extra_scores
    assert f"{row['macro_f1']['public']:.5f}" in board
    rules = client.get(f"/c/{multi.slug}/rules/").content.decode()
    assert "Log loss (lower is better); also shown: Accuracy, Macro F1" in rules
    assert "A row must sum to 1 within 0.01" in rules
    detail = alice_api.get(f"/api/competitions/{multi.slug}/").json()
    assert detail["extra_metrics"] == EXTRA
    assert detail["rules"]["scoring"]["probability_rule"].startswith("One probability column per class")


def test_under_the_ladder_the_other_metrics_public_scores_are_withheld(alice, alice_api, bob, broker):
    ladder = make_competition(
        "iris-ladder-columns",
        metric="log_loss",
        extra_metrics=["accuracy"],
        ladder_enabled=True,
        ladder_step=0.01,
    )
    make_participations(ladder, alice, bob)
    body, _ = _proba_file(ladder, seed=5)
    entry_id = submit(alice_api, ladder, body)
    run_delivered(broker)
    assert Submission.objects.get(pk=entry_id).extra_scores["accuracy"]["public"] is not None
    row = alice_api.get(f"/api/competitions/{ladder.slug}/leaderboard/").json()["results"][0]
    assert row["extra_scores"] == {}
    assert alice_api.get(f"/api/submissions/{entry_id}/").json()["extra_scores"] == {
        "accuracy": {"public": None, "private": None}
    }

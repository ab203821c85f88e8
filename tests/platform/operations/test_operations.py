"""Rescore, disqualify (entries and entrants), reinstate and re-run, through the API as a
host, with the board, the participant's view of the reason and the audit log checked."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from podium.competitions.models import AuditEvent
from podium.leaderboards.models import BoardEntry
from podium.operations.models import RescoreJob
from podium.operations.rescore import rescore_advance
from podium.submissions.models import Kind, Status, Submission
from podium.submissions.services import submission_score
from tests.factories.competitions import make_participations
from tests.factories.submissions import TINY_CONFIG, make_submission, predictions_csv

pytestmark = pytest.mark.django_db


def _scored_entry(client, competition, *, label=None, drop=0) -> Submission:
    upload = io.BytesIO(predictions_csv(competition, label=label, drop=drop))
    upload.name = "p.csv"
    answer = client.post(
        f"/api/competitions/{competition.slug}/submissions/", {"file": upload}, format="multipart"
    )
    assert answer.status_code == 201, answer.content
    entry = Submission.objects.get(pk=answer.json()["id"])
    return submission_score(submission_id=entry.pk, attempt=entry.attempt)


def _board(competition) -> dict:
    return {
        (row.user.username if row.user else row.team.name): row.submission_id
        for row in BoardEntry.objects.filter(competition=competition, rank_key__isnull=False).select_related(
            "user"
        )
    }


def test_disqualify_an_entry_takes_it_off_the_board_and_shows_the_reason(host_api, alice_api, cup_a, alice):
    make_participations(cup_a, alice)
    classes = cup_a.dataset.manifest["classes"]
    worse = _scored_entry(alice_api, cup_a, label=classes[0])
    better = _scored_entry(alice_api, cup_a, label=classes[1])
    best = max((worse, better), key=lambda s: s.public_score)
    other = worse if best is better else better
    assert _board(cup_a) == {"alice": best.pk}

    answer = host_api.post(
        f"/api/competitions/cup-a/entries/{best.pk}/disqualify/",
        {"reason": "hand-labelled test set"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert _board(cup_a) == {"alice": other.pk}
    seen = alice_api.get(f"/api/submissions/{best.pk}/").json()
    assert seen["disqualified_reason"] == "hand-labelled test set" and seen["disqualified_at"]
    assert (
        host_api.post(
            f"/api/competitions/cup-a/entries/{best.pk}/disqualify/", {"reason": "again"}, format="json"
        ).status_code
        == 409
    )

    assert (
        host_api.post(f"/api/competitions/cup-a/entries/{best.pk}/reinstate/", {}, format="json").status_code
        == 200
    )
    assert _board(cup_a) == {"alice": best.pk}
    actions = list(AuditEvent.objects.filter(competition=cup_a).values_list("action", flat=True))
    assert {"entry_disqualify", "entry_reinstate"} <= set(actions)


def test_a_reason_is_required(host_api, alice_api, cup_a, alice):
    make_participations(cup_a, alice)
    entry = _scored_entry(alice_api, cup_a)
    answer = host_api.post(
        f"/api/competitions/cup-a/entries/{entry.pk}/disqualify/", {"reason": "  "}, format="json"
    )
    assert answer.status_code == 400 and answer.json()["field"] == "reason"
    entry.refresh_from_db()
    assert entry.disqualified_at is None and not AuditEvent.objects.filter(action="entry_disqualify").exists()


@pytest.mark.parametrize("who", ["alice_api", "bob_api", "anon_api"])
def test_participants_and_anonymous_cannot_disqualify(request, cup_a, alice, alice_api, who):
    make_participations(cup_a, alice)
    entry = _scored_entry(alice_api, cup_a)
    client = request.getfixturevalue(who)
    answer = client.post(
        f"/api/competitions/cup-a/entries/{entry.pk}/disqualify/", {"reason": "x"}, format="json"
    )
    assert answer.status_code in (401, 403)
    entry.refresh_from_db()
    assert entry.disqualified_at is None


def test_an_entry_of_another_competition_is_not_found_through_mine(host_api, alice_api, cup_a, cup_b, alice):
    make_participations(cup_b, alice)
    entry = _scored_entry(alice_api, cup_b)
    answer = host_api.post(
        f"/api/competitions/cup-a/entries/{entry.pk}/disqualify/", {"reason": "x"}, format="json"
    )
    assert answer.status_code == 404


def test_disqualify_a_participant_refuses_new_entries_and_is_reversible(
    host_api, alice_api, cup_a, alice, bob
):
    make_participations(cup_a, alice, bob)
    _scored_entry(alice_api, cup_a)
    answer = host_api.post(
        "/api/competitions/cup-a/disqualifications/",
        {"username": "alice", "reason": "multiple accounts"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    assert _board(cup_a) == {}
    upload = io.BytesIO(predictions_csv(cup_a))
    upload.name = "p.csv"
    refused = alice_api.post("/api/competitions/cup-a/submissions/", {"file": upload}, format="multipart")
    assert refused.status_code == 403 and refused.json()["reason"] == "multiple accounts"
    assert "multiple accounts" in refused.json()["detail"]
    twice = host_api.post(
        "/api/competitions/cup-a/disqualifications/", {"username": "alice", "reason": "x"}, format="json"
    )
    assert twice.status_code == 409

    lifted = host_api.post(
        f"/api/competitions/cup-a/disqualifications/{answer.json()['id']}/lift/", {}, format="json"
    )
    assert lifted.status_code == 200 and lifted.json()["lifted_at"]
    assert set(_board(cup_a)) == {"alice"}
    assert {"entrant_disqualify", "entrant_reinstate"} <= set(
        AuditEvent.objects.filter(competition=cup_a).values_list("action", flat=True)
    )


def test_rescore_with_another_metric_equals_scoring_each_entry_anew(
    host_api, alice_api, bob_api, cup_a, alice, bob
):
    from podium.submissions.scoring import scores_compute

    make_participations(cup_a, alice, bob)
    classes = cup_a.dataset.manifest["classes"]
    entries = [
        _scored_entry(alice_api, cup_a, label=classes[0]),
        _scored_entry(bob_api, cup_a, label=classes[1]),
        _scored_entry(bob_api, cup_a, label=classes[2]),
    ]
    answer = host_api.post(
        "/api/competitions/cup-a/rescore/", {"metric": "macro_f1", "reason": "field standard"}, format="json"
    )
    assert answer.status_code == 202, answer.content
    job_id = answer.json()["id"]
    assert answer.json()["total"] == 3 and answer.json()["state"] == "queued"
    assert host_api.post("/api/competitions/cup-a/rescore/", {}, format="json").status_code == 409

    rescore_advance(job_id=job_id, chunk=2)
    progress = host_api.get(f"/api/competitions/cup-a/rescores/{job_id}/").json()
    assert progress["state"] == "running" and progress["done"] == 2
    rescore_advance(job_id=job_id, chunk=2)
    rescore_advance(job_id=job_id, chunk=2)
    done = host_api.get(f"/api/competitions/cup-a/rescores/{job_id}/").json()
    assert done["state"] == "done" and done["done"] == 3 and done["progress"] == 1.0
    rescore_advance(job_id=job_id)  # a redelivery changes nothing

    for entry in entries:
        entry.refresh_from_db()
        expected = scores_compute(
            submission=Submission.objects.select_related("competition").get(pk=entry.pk)
        )
        assert entry.public_score == pytest.approx(expected.public, abs=1e-12)
        assert entry.private_score == pytest.approx(expected.private, abs=1e-12)
        assert (entry.public_ci_low, entry.public_ci_high) == pytest.approx(expected.public_ci, abs=1e-12)
    bob_best = max(entries[1:], key=lambda s: (s.public_score, -s.pk))
    assert _board(cup_a) == {"alice": entries[0].pk, "bob": bob_best.pk}
    row = BoardEntry.objects.get(competition=cup_a, user=bob)
    assert row.score == bob_best.public_score
    assert RescoreJob.objects.get(pk=job_id).metric == "macro_f1"


def test_rescore_fails_an_entry_that_no_longer_scores_with_a_reason(host_api, alice_api, cup_a, alice):
    make_participations(cup_a, alice)
    entry = _scored_entry(alice_api, cup_a)
    entry.predictions.storage.delete(entry.predictions.name)
    job = host_api.post("/api/competitions/cup-a/rescore/", {}, format="json").json()
    rescore_advance(job_id=job["id"])
    rescore_advance(job_id=job["id"])
    entry.refresh_from_db()
    assert entry.status == Status.FAILED and "missing" in entry.error_message
    assert _board(cup_a) == {}


def test_rerun_a_model_entry(host_api, cup_a, alice):
    make_participations(cup_a, alice)
    entry = make_submission(
        cup_a,
        alice,
        kind=Kind.CONFIG,
        config_text=TINY_CONFIG,
        status=Status.SCORED,
        attempt=1,
        public_score=0.5,
    )
    answer = host_api.post(
        f"/api/competitions/cup-a/entries/{entry.pk}/rerun/", {"reason": "worker fault"}, format="json"
    )
    assert answer.status_code == 202, answer.content
    entry.refresh_from_db()
    assert entry.status == Status.QUEUED and entry.attempt == 2 and entry.public_score is None
    assert (
        host_api.post(f"/api/competitions/cup-a/entries/{entry.pk}/rerun/", {}, format="json").status_code
        == 409
    )


def test_rerun_refuses_a_prediction_file(host_api, alice_api, cup_a, alice):
    make_participations(cup_a, alice)
    entry = _scored_entry(alice_api, cup_a)
    answer = host_api.post(f"/api/competitions/cup-a/entries/{entry.pk}/rerun/", {}, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "not_a_model"


def test_dashboard_numbers(host_api, alice_api, cup_a, alice):
    make_participations(cup_a, alice)
    _scored_entry(alice_api, cup_a)
    failed = make_submission(cup_a, alice, status=Status.FAILED, error_message="bad header 'idd'")
    body = host_api.get("/api/competitions/cup-a/dashboard/").json()
    assert body["participants"] == 1
    assert body["queue"]["scored"] == 1 and body["queue"]["failed"] == 1
    assert sum(body["score_distribution"]["counts"]) == 1
    assert sum(d["entries"] for d in body["entries_per_day"]) == 2
    assert body["last_failures"][0] == {
        "id": failed.pk,
        "user": "alice",
        "kind": "predictions",
        "finished_at": None,
        "reason": "bad header 'idd'",
    }


def _labels_csv(
    competition, *, change: int = 0, drop: int = 0, extra: str = "", header: str | None = None
) -> bytes:
    """The competition's test labels as its hosts would send them, with `change` labels altered."""
    from podium.competitions.selectors import answer_key_bytes

    manifest = competition.dataset.manifest
    rows = answer_key_bytes(competition).decode().splitlines()[1:]
    classes = manifest["classes"]
    out = [header or f"{manifest['id_column']},{manifest['target']}"]
    for n, line in enumerate(rows[drop:]):
        id_, target, _split = line.split(",")
        if n < change:
            target = classes[(classes.index(target) + 1) % len(classes)]
        out.append(f"{id_},{target}")
    return ("\n".join(out) + "\n" + extra).encode()


def _post_labels(client, slug, body: bytes, **fields):
    upload = io.BytesIO(body)
    upload.name = "test_labels.csv"
    return client.post(
        f"/api/competitions/{slug}/answer-key/", {"labels": upload, **fields}, format="multipart"
    )


def test_corrected_labels_keep_the_partition_and_rescore(host_api, alice_api, cup_a, alice):
    from podium.competitions.selectors import answer_key_bytes
    from podium.submissions.scoring import scores_compute

    make_participations(cup_a, alice)
    entry = _scored_entry(alice_api, cup_a)
    before_key = answer_key_bytes(cup_a).decode().splitlines()
    answer = _post_labels(host_api, "cup-a", _labels_csv(cup_a, change=5), reason="five labels were wrong")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["labels_changed"] == 5 and body["rescore"]["total"] == 1
    cup_a.refresh_from_db()
    after_key = answer_key_bytes(cup_a).decode().splitlines()
    # Same ids, same order, same split; five targets differ.
    assert [r.split(",")[0::2] for r in after_key] == [r.split(",")[0::2] for r in before_key]
    assert sum(a != b for a, b in zip(after_key, before_key, strict=True)) == 5
    rescore_advance(job_id=body["rescore"]["id"])
    rescore_advance(job_id=body["rescore"]["id"])
    entry.refresh_from_db()
    expected = scores_compute(submission=Submission.objects.select_related("competition").get(pk=entry.pk))
    assert (entry.public_score, entry.private_score) == (expected.public, expected.private)
    assert AuditEvent.objects.filter(
        competition=cup_a, action="answer_key_correct", reason="five labels were wrong"
    ).exists()


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"header": "id,label"}, "no column"),
        ({"drop": 2}, "has no label here"),
        ({"extra": "999999,x\n"}, "not in the answer key"),
        ({"extra": "{first},{label}\n"}, "duplicate id"),
        ({"extra": "{new},unicorn\n"}, "not one of the classes"),
    ],
)
def test_bad_corrected_labels_list_the_problems_and_store_nothing(host_api, cup_a, kwargs, expected):
    from podium.competitions.selectors import answer_key_bytes

    before = (cup_a.answer_key_sha256, answer_key_bytes(cup_a))
    first = answer_key_bytes(cup_a).decode().splitlines()[1].split(",")
    if "extra" in kwargs:
        kwargs["extra"] = kwargs["extra"].format(first=first[0], label=first[1], new="unknown-id")
    answer = _post_labels(host_api, "cup-a", _labels_csv(cup_a, **kwargs))
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert "nothing was stored" in body["detail"]
    assert any(expected in p["message"] for p in body["problems"]), body
    cup_a.refresh_from_db()
    assert (cup_a.answer_key_sha256, answer_key_bytes(cup_a)) == before
    assert not RescoreJob.objects.filter(competition=cup_a).exists()
    assert not AuditEvent.objects.filter(action="answer_key_correct").exists()


@pytest.mark.parametrize("who", ["alice_api", "anon_api", "host_api"])
def test_only_its_hosts_correct_a_key(request, cup_a, cup_b, host, who):
    from podium.competitions.selectors import answer_key_bytes

    before = answer_key_bytes(cup_b)
    client = request.getfixturevalue(who)
    answer = _post_labels(client, "cup-b", _labels_csv(cup_b, change=3))
    assert answer.status_code in (401, 403)
    cup_b.refresh_from_db()
    assert answer_key_bytes(cup_b) == before


def test_disqualified_people_and_teams_cannot_change_teams(host_api, cup_a, alice, bob, charlie):
    from podium.errors import ApplicationError
    from podium.teams.services import team_create, team_join

    make_participations(cup_a, alice, bob, charlie)
    team = team_create(user=bob, competition=cup_a, name="Bobcats")
    host_api.post(
        "/api/competitions/cup-a/disqualifications/",
        {"username": "alice", "reason": "shared labels"},
        format="json",
    )
    with pytest.raises(ApplicationError, match="shared labels"):
        team_create(user=alice, competition=cup_a, name="Alicorns")
    with pytest.raises(ApplicationError, match="shared labels"):
        team_join(user=alice, join_code=team.join_code)
    answer = host_api.post(
        "/api/competitions/cup-a/disqualifications/",
        {"team": "Bobcats", "reason": "collusion"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    with pytest.raises(ApplicationError, match="collusion"):
        team_join(user=charlie, join_code=team.join_code)
    # A member of a disqualified team is named by the team.
    refused = host_api.post(
        "/api/competitions/cup-a/disqualifications/", {"username": "bob", "reason": "x"}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "in_team"


def test_the_dashboard_page_refuses_an_unknown_metric_with_a_message(host, cup_a, client):
    client.force_login(host)
    answer = client.post("/c/cup-a/host/rescore/", {"metric": "²"}, follow=True)
    assert answer.status_code == 200
    assert "unknown metric" in answer.content.decode()
    assert not RescoreJob.objects.filter(competition=cup_a).exists()


def test_a_phase_with_its_own_split_has_its_own_key_corrected(host_api, cup_a):
    """A development phase scored on its own validation split: correcting its labels changes
    its key, never the competition's (which the final phase is scored on), and says so in the
    audit; an unknown phase is refused naming the phases, storing nothing."""
    from podium.competitions import services
    from podium.competitions.models import Phase
    from podium.competitions.selectors import answer_key_bytes
    from tests.factories.competitions import make_dataset

    Phase.objects.filter(competition=cup_a).update(ends_at=timezone.now() - timedelta(minutes=1))
    phase = services.phase_create(
        competition=cup_a, slug="dev", title="Development", dataset=make_dataset("iris"), split_seed=3
    )
    competition_key = (cup_a.answer_key_sha256, answer_key_bytes(cup_a))
    phase_key = answer_key_bytes(phase).decode()
    rows = [line.split(",") for line in phase_key.splitlines()[1:]]
    classes = phase.dataset.manifest["classes"]
    labels = ["id,target"] + [
        f"{id_},{classes[(classes.index(t) + 1) % len(classes)] if n < 3 else t}"
        for n, (id_, t, _split) in enumerate(rows)
    ]
    body = ("\n".join(labels) + "\n").encode()

    unknown = _post_labels(host_api, "cup-a", body, phase="nope", reason="typo")
    assert unknown.status_code == 404 and "'dev'" in unknown.json()["detail"], unknown.content
    answer = _post_labels(
        host_api, "cup-a", body, phase="dev", reason="three validation labels", rescore=False
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["labels_changed"] == 3
    phase.refresh_from_db()
    cup_a.refresh_from_db()
    assert answer.json()["answer_key_sha256"] == phase.answer_key_sha256
    assert answer_key_bytes(phase).decode() != phase_key
    assert (cup_a.answer_key_sha256, answer_key_bytes(cup_a)) == competition_key
    assert AuditEvent.objects.get(action="answer_key_correct").target == "phase dev"

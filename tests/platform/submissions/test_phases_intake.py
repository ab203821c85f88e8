"""Entries belong to a phase: the intake picks the current one (or the one named), each phase
has its own window, limits, accepted kinds and test split; after a phase's end, late entries
(when allowed) go to its late board; a competition without an end never closes.
Through the HTTP API, scored by the scorer's own task taken from the broker."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from podium.competitions import services
from podium.competitions.models import Phase
from podium.leaderboards.models import BoardEntry
from podium.submissions.models import Submission
from tests.factories.competitions import make_competition, make_dataset, make_participations
from tests.factories.submissions import predictions_csv
from tests.platform.submissions.test_intake_api import stored_files
from tests.platform.submissions.test_scoring import mixed_predictions, run_delivered

pytestmark = pytest.mark.django_db


def two_phases(*, development_ends, late_entries=False, **final):
    """iris-cup: a development phase until `development_ends` (from now), then a final one."""
    now = timezone.now()
    competition = make_competition(slug="phased")
    first = competition.phases.get(number=1)
    services.phase_update(
        phase=first,
        slug="development",
        title="Development",
        ends_at=now + development_ends,
        late_entries=late_entries,
    )
    services.phase_create(competition=competition, slug="final", title="Final", **final)
    competition._phase_rows = None
    return competition


def post(client, competition, body, phase=None):
    data = {"file": io.BytesIO(body)}
    data["file"].name = "p.csv"
    if phase is not None:
        data["phase"] = phase
    return client.post(f"/api/competitions/{competition.slug}/submissions/", data, format="multipart")


def test_entries_go_to_the_current_phase_and_a_named_one_must_be_open(alice, alice_api, broker, settings):
    competition = two_phases(development_ends=timedelta(days=2))
    make_participations(competition, alice)
    body = predictions_csv(competition)

    answer = post(alice_api, competition, body)
    assert answer.status_code == 201, answer.content
    assert answer.json()["phase"] == "development" and answer.json()["is_late"] is False
    assert Submission.objects.get(pk=answer.json()["id"]).phase.slug == "development"

    files = stored_files(settings)
    refused = post(alice_api, competition, body, phase="final")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Phase 'final' of 'phased' opens at ")
    assert stored_files(settings) == files

    unknown = post(alice_api, competition, body, phase="nope")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == (
        "The competition 'phased' has no phase 'nope'; its phases are 'development', 'final'."
    )
    assert stored_files(settings) == files
    assert Submission.objects.filter(competition=competition).count() == 1


def test_each_phase_has_its_own_board(alice, bob, alice_api, bob_api, broker):
    competition = two_phases(development_ends=timedelta(days=2))
    make_participations(competition, alice, bob)
    dev_id = post(alice_api, competition, mixed_predictions(competition)).json()["id"]
    run_delivered(broker)
    # The final phase opens: the development phase ends now.
    Phase.objects.filter(competition=competition, slug="development").update(ends_at=timezone.now())
    final = post(bob_api, competition, predictions_csv(competition))
    assert final.status_code == 201 and final.json()["phase"] == "final"
    run_delivered(broker)

    rows = {(r.phase.slug, r.late, r.user.username): r.submission_id for r in BoardEntry.objects.all()}
    assert rows == {("development", False, "alice"): dev_id, ("final", False, "bob"): final.json()["id"]}
    boards = {
        phase: [
            r["entrant"]
            for r in alice_api.get(
                f"/api/competitions/{competition.slug}/leaderboard/", {"phase": phase}
            ).json()["results"]
        ]
        for phase in ("development", "final")
    }
    assert boards == {"development": ["alice"], "final": ["bob"]}
    # No phase named: the current one (final).
    assert (
        alice_api.get(f"/api/competitions/{competition.slug}/leaderboard/").json()["phase"]["slug"] == "final"
    )


def test_limits_and_accepted_kinds_are_per_phase(alice, alice_api, broker):
    competition = two_phases(development_ends=timedelta(minutes=-1), daily_limit=1, accepts_configs=False)
    make_participations(competition, alice)
    Phase.objects.filter(competition=competition, slug="development").update(daily_limit=5, late_entries=True)
    body = predictions_csv(competition)
    assert post(alice_api, competition, body).status_code == 201  # final: 1 a day
    refused = post(alice_api, competition, body)
    assert (
        refused.status_code == 429 and refused.json()["limit"] == "daily" and refused.json()["allowed"] == 1
    )
    # The development phase counts its own entries (late ones here).
    assert post(alice_api, competition, body, phase="development").status_code == 201
    limits = alice_api.get(
        f"/api/competitions/{competition.slug}/submissions/limits/", {"phase": "development"}
    )
    assert limits.json()["daily"] == {**limits.json()["daily"], "allowed": 5, "used": 1}
    config = alice_api.post(
        f"/api/competitions/{competition.slug}/submissions/", {"config": "version: 1"}, format="json"
    )
    assert config.status_code == 400
    assert (
        config.json()["detail"]
        == "This competition does not accept model configs; submit a predictions file."
    )


def test_late_entries_are_scored_on_both_splits_and_never_change_the_final_ranks(
    alice, bob, alice_api, bob_api, admin_api, broker
):
    competition = make_competition(slug="late-cup")
    make_participations(competition, alice, bob)
    phase = competition.phases.get()
    services.phase_update(phase=phase, late_entries=True)
    weak = predictions_csv(competition)  # one label everywhere
    strong = mixed_predictions(competition)
    alice_id = post(alice_api, competition, strong).json()["id"]
    bob_id = post(bob_api, competition, weak).json()["id"]
    run_delivered(broker)
    # The deadline passes and the board is revealed; then bob submits a perfect file, late.
    url = f"/api/competitions/{competition.slug}/leaderboard/"
    assert admin_api.post(f"{url}reveal/", {"close": True}, format="json").status_code == 200
    before = {board: bob_api.get(url, {"board": board}).json()["results"] for board in ("public", "private")}
    assert [r["submission_id"] for r in before["private"]] == [alice_id, bob_id]

    perfect = _perfect_predictions(competition)
    late = post(bob_api, competition, perfect)
    assert late.status_code == 201, late.content
    assert late.json()["is_late"] is True
    run_delivered(broker)
    entry = Submission.objects.get(pk=late.json()["id"])
    assert entry.status == "scored" and entry.public_score == 1.0 and entry.private_score == 1.0

    after = {board: bob_api.get(url, {"board": board}).json()["results"] for board in ("public", "private")}
    assert after == before  # the final ranks, and the public board, never move
    late_board = bob_api.get(url, {"late": "true", "board": "private"}).json()
    assert late_board["late"] is True
    assert [(r["entrant"], r["score"], r["submission_id"]) for r in late_board["results"]] == [
        ("bob", 1.0, entry.pk)
    ]
    # A late entry is never a final pick.
    picked = bob_api.post(f"/api/submissions/{entry.pk}/final-pick/")
    assert picked.status_code == 400 and picked.json()["code"] == "late_entry"


def _perfect_predictions(competition) -> bytes:
    from podium.competitions.selectors import answer_key_bytes

    key = list(csv.DictReader(io.StringIO(answer_key_bytes(competition).decode())))
    return ("id,target\n" + "".join(f"{r['id']},{r['target']}\n" for r in key)).encode()


def test_after_the_end_without_late_entries_nothing_is_accepted(alice, alice_api, broker, settings):
    competition = make_competition(slug="no-late", starts=-3, ends=-1)
    make_participations(competition, alice)
    refused = post(alice_api, competition, predictions_csv(competition))
    assert refused.status_code == 403 and refused.json()["detail"].startswith(
        "The competition 'no-late' closed at "
    )
    assert stored_files(settings) == [] and not Submission.objects.exists()


def test_a_permanent_competition_keeps_taking_entries_and_never_shows_private_scores(
    alice, alice_api, anon_api, broker
):
    competition = make_competition(slug="bench", starts=-400, ends=1)
    services.competition_update(competition=competition, ends_at=None)
    make_participations(competition, alice)
    answer = post(alice_api, competition, mixed_predictions(competition))
    assert answer.status_code == 201
    run_delivered(broker)
    assert alice_api.get(f"/api/submissions/{answer.json()['id']}/").json()["private_score"] is None
    detail = anon_api.get(f"/api/competitions/{competition.slug}/").json()
    assert detail["status"] == "open" and detail["rules"]["ends_at"] is None
    phases = anon_api.get(f"/api/competitions/{competition.slug}/phases/").json()
    assert [(p["slug"], p["status"], p["ends_at"]) for p in phases] == [("main", "open", None)]
    hidden = anon_api.get(f"/api/competitions/{competition.slug}/leaderboard/", {"board": "private"})
    assert hidden.status_code == 403 and "it has no deadline" in hidden.json()["detail"]
    listed = anon_api.get("/api/competitions/", {"status": "open"}).json()["results"]
    assert "bench" in [c["slug"] for c in listed]


def test_a_phase_with_its_own_test_split_is_scored_on_it(alice, alice_api, broker):
    """A development phase on a validation set: its own dataset's hidden labels, its own partition."""
    competition = make_competition(slug="own-split", dataset="iris")
    other = make_dataset("iris")
    Phase.objects.filter(competition=competition).update(ends_at=timezone.now() - timedelta(minutes=1))
    phase = services.phase_create(
        competition=competition, slug="final", title="Final", dataset=other, split_seed=7, public_fraction=0.5
    )
    assert phase.answer_key_sha256 and phase.answer_key.name.startswith("answer_keys/own-split/phase-2/")
    assert phase.n_public + phase.n_private == competition.n_public + competition.n_private
    assert phase.n_public != competition.n_public  # its own partition (half public), not the competition's
    make_participations(competition, alice)
    body = mixed_predictions(competition)
    entry_id = post(alice_api, competition, body).json()["id"]
    run_delivered(broker)
    entry = Submission.objects.get(pk=entry_id)
    from podium.competitions.selectors import answer_key_bytes

    key = list(csv.DictReader(io.StringIO(answer_key_bytes(phase).decode())))
    predicted = {r["id"]: r["target"] for r in csv.DictReader(io.StringIO(body.decode()))}
    split = next(c for c in key[0] if c not in ("id", "target"))
    public = [r for r in key if r[split] in ("public", "1", "True", "true")]
    want = sum(predicted[r["id"]] == r["target"] for r in public) / len(public)
    assert entry.phase_id == phase.pk and entry.public_score == pytest.approx(want, abs=1e-12)
    assert len(public) == phase.n_public


def test_a_phase_on_another_dataset_serves_its_files_and_scores_its_ids(alice, alice_api, broker):
    """A final phase on another dataset: its files on the data API and its test ids in entries."""
    competition = make_competition(slug="two-sets", dataset="iris")
    Phase.objects.filter(competition=competition).update(ends_at=timezone.now() - timedelta(minutes=1))
    wine = make_dataset("wine")
    services.phase_create(competition=competition, slug="final", title="Final", dataset=wine)
    make_participations(competition, alice)
    listing = alice_api.get(f"/api/competitions/{competition.slug}/data/").json()
    assert listing["dataset"]["slug"] == "wine"
    dev = alice_api.get(f"/api/competitions/{competition.slug}/data/", {"phase": "main"}).json()
    assert dev["dataset"]["slug"] == "iris"
    sample = alice_api.get(f"/api/competitions/{competition.slug}/data/sample_submission.csv")
    assert sample.status_code == 200
    body = b"".join(sample.streaming_content) if sample.streaming else sample.content
    answer = post(alice_api, competition, body)
    assert answer.status_code == 201, answer.content
    run_delivered(broker)
    entry = Submission.objects.get(pk=answer.json()["id"])
    assert entry.status == "scored" and entry.phase.slug == "final"
    iris_body = predictions_csv(competition)  # iris ids: not this phase's
    refused = post(alice_api, competition, iris_body)
    assert refused.status_code == 400 and refused.json()["problems"]

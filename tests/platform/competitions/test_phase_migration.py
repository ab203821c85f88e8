"""Existing competitions migrate to one phase with nothing changed for participants: the data
is built in the shape before phases (by the migrations' own historical models), then the
phase migrations run forward on real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [
    ("competitions", "0004_extra_metrics"),
    ("submissions", "0006_submission_training_report"),
    ("leaderboards", "0004_extra_metrics"),
]
AFTER = [
    ("competitions", "0005_phases"),
    ("submissions", "0007_submission_phase"),
    ("leaderboards", "0005_board_per_phase"),
]


@pytest.mark.django_db(transaction=True)
def test_old_competitions_entries_and_board_rows_move_to_one_phase():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        User = old.get_model("accounts", "User")
        Dataset = old.get_model("competitions", "Dataset")
        Competition = old.get_model("competitions", "Competition")
        Submission = old.get_model("submissions", "Submission")
        BoardEntry = old.get_model("leaderboards", "BoardEntry")
        now = timezone.now()
        alice = User.objects.create(username="alice")
        dataset = Dataset.objects.create(slug="d", title="D", task_type="classification", manifest={})
        made = {}
        for slug, revealed in (("open-cup", None), ("old-cup", now - timedelta(days=1))):
            competition = Competition.objects.create(
                slug=slug,
                title=slug,
                dataset=dataset,
                task_type="classification",
                metric="accuracy",
                higher_is_better=True,
                starts_at=now - timedelta(days=9),
                ends_at=now + timedelta(days=1) if revealed is None else now - timedelta(days=2),
                private_revealed_at=revealed,
            )
            entry = Submission.objects.create(
                competition=competition, user=alice, kind="predictions", status="scored", public_score=0.5
            )
            row = BoardEntry.objects.create(competition=competition, user=alice, score=0.5, submission=entry)
            made[slug] = (competition.pk, entry.pk, row.pk, revealed)

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        Phase = new.get_model("competitions", "Phase")
        NewSubmission = new.get_model("submissions", "Submission")
        NewBoardEntry = new.get_model("leaderboards", "BoardEntry")
        for competition_id, entry_id, row_id, revealed in made.values():
            (phase,) = Phase.objects.filter(competition_id=competition_id)
            assert (phase.number, phase.slug, phase.title) == (1, "main", "Main phase")
            # Every setting left empty: the competition's own, as before.
            assert phase.starts_at is phase.ends_at is phase.daily_limit is phase.dataset_id is None
            assert not phase.answer_key_sha256 and not phase.late_entries
            assert phase.private_revealed_at == revealed
            assert NewSubmission.objects.get(pk=entry_id).phase_id == phase.pk
            row = NewBoardEntry.objects.get(pk=row_id)
            assert (row.phase_id, row.late) == (phase.pk, False)
    finally:
        MigrationExecutor(connection).migrate(latest)


@pytest.mark.django_db
def test_a_migrated_competition_answers_as_before(anon_api, alice):
    """What the API says of a one-phase competition is what it said before phases: the same
    window, limits and board, with the phase optional everywhere."""
    from tests.factories.competitions import make_bare_competition
    from tests.factories.leaderboards import make_entry

    competition = make_bare_competition(slug="same")
    make_entry(competition, alice, 0.7)
    detail = anon_api.get("/api/competitions/same/").json()
    (phase,) = anon_api.get("/api/competitions/same/phases/").json()
    assert phase["starts_at"] == detail["starts_at"] and phase["ends_at"] == detail["ends_at"]
    assert phase["daily_limit"] == detail["rules"]["daily_limit"]
    plain = anon_api.get("/api/competitions/same/leaderboard/").json()
    named = anon_api.get("/api/competitions/same/leaderboard/", {"phase": "main"}).json()
    assert plain == named and [r["entrant"] for r in plain["results"]] == ["alice"]

"""Concurrent scores of one entrant on PostgreSQL: the row lock keeps the best of both."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from podium.leaderboards.services import board_record_score
from podium.submissions.models import Status
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.submissions import make_submission


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_scores_make_one_row_with_the_best(postgres, alice):
    competition = make_bare_competition()
    make_participations(competition, alice)
    entries = [
        make_submission(
            competition,
            alice,
            status=Status.SCORED,
            public_score=score,
            private_score=score,
            public_ci_low=score - 0.01,
            public_ci_high=score + 0.01,
            finished_at=timezone.now(),
        )
        for score in (0.6, 0.9, 0.7, 0.8)
    ]
    barrier = threading.Barrier(len(entries))
    errors = []

    def score(entry):
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                board_record_score(submission=entry)
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=score, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    row = BoardEntry.objects.get(competition=competition, user=alice)
    assert (row.score, row.submission_id, row.entry_count) == (0.9, entries[1].pk, 4)

"""The public board's rules, each against a board computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from podium.leaderboards.selectors import board_page
from podium.submissions.models import Status

from .conftest import join, make_competition, make_entry

pytestmark = pytest.mark.django_db


def standings(competition, board="public"):
    page = board_page(competition=competition, board=board, page=1, page_size=100)
    return [(r.rank, r.entrant_name, r.score) for r in page.rows]


def test_best_entry_per_participant_and_counts(competition, alice, bob, charlie):
    join(competition, alice, bob, charlie)
    make_entry(competition, alice, 0.70)
    make_entry(competition, alice, 0.90)
    make_entry(competition, alice, 0.80)
    make_entry(competition, bob, 0.85)
    make_entry(competition, charlie, 0.60)
    assert standings(competition) == [(1, "alice", 0.90), (2, "bob", 0.85), (3, "charlie", 0.60)]
    row = BoardEntry.objects.get(competition=competition, user=alice)
    assert row.entry_count == 3


def test_ties_go_to_the_earlier_submission_then_the_lower_id(competition, alice, bob, charlie):
    now = timezone.now()
    join(competition, alice, bob, charlie)
    # bob submitted first, but alice's entry is scored first: bob still wins the tie.
    make_entry(competition, alice, 0.80, at=now - timedelta(hours=1))
    bob_entry = make_entry(competition, bob, 0.80, at=now - timedelta(hours=2))
    # charlie's entry has the same time as bob's but a higher id: bob first.
    make_entry(competition, charlie, 0.80, at=now - timedelta(hours=2))
    assert standings(competition) == [(1, "bob", 0.80), (2, "charlie", 0.80), (3, "alice", 0.80)]
    assert BoardEntry.objects.get(user=bob).submission_id == bob_entry.pk


def test_an_equal_later_score_does_not_replace_the_earlier_entry(competition, alice):
    join(competition, alice)
    first = make_entry(competition, alice, 0.80)
    make_entry(competition, alice, 0.80)
    assert BoardEntry.objects.get(user=alice).submission_id == first.pk


def test_failed_cancelled_and_unscored_entries_never_rank(competition, alice, bob, charlie):
    join(competition, alice, bob, charlie)
    make_entry(competition, alice, 0.5)
    make_entry(competition, bob, status=Status.FAILED)
    make_entry(competition, bob, status=Status.CANCELLED)
    make_entry(competition, charlie, status=Status.QUEUED)
    assert standings(competition) == [(1, "alice", 0.5)]
    assert BoardEntry.objects.get(user=bob).entry_count == 0
    assert BoardEntry.objects.get(user=charlie).entry_count == 1


def test_lower_is_better_metrics_rank_ascending(alice, bob, charlie):
    competition = make_competition(metric="rmse", higher_is_better=False, task_type="regression")
    join(competition, alice, bob, charlie)
    make_entry(competition, alice, 2.5)
    make_entry(competition, alice, 1.5)
    make_entry(competition, alice, 3.0)
    make_entry(competition, bob, 1.2)
    make_entry(competition, charlie, 4.0)
    assert standings(competition) == [(1, "bob", 1.2), (2, "alice", 1.5), (3, "charlie", 4.0)]

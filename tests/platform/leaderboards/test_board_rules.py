"""The public board's rules, each against a board computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from podium.leaderboards.selectors import board_page
from podium.submissions.models import Status
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db


def standings(competition, board="public"):
    page = board_page(competition=competition, board=board, page=1, page_size=100)
    return [(r.rank, r.entrant_name, r.score) for r in page.rows]


def test_best_entry_per_participant_and_counts(competition, alice, bob, charlie):
    make_participations(competition, alice, bob, charlie)
    make_entry(competition, alice, 0.70)
    make_entry(competition, alice, 0.90)
    make_entry(competition, alice, 0.80)
    make_entry(competition, bob, 0.85)
    make_entry(competition, charlie, 0.60)
    assert standings(competition) == [(1, "alice", 0.90), (2, "bob", 0.85), (3, "charlie", 0.60)]
    row = BoardEntry.objects.get(competition=competition, user=alice)
    assert row.entry_count == 3


def test_ties_share_a_rank_listed_earlier_submission_then_lower_id(competition, alice, bob, charlie):
    now = timezone.now()
    make_participations(competition, alice, bob, charlie)
    # bob submitted first, but alice's entry is scored first: bob still wins the tie.
    make_entry(competition, alice, 0.80, at=now - timedelta(hours=1))
    bob_entry = make_entry(competition, bob, 0.80, at=now - timedelta(hours=2))
    # charlie's entry has the same time as bob's but a higher id: bob first.
    make_entry(competition, charlie, 0.80, at=now - timedelta(hours=2))
    # One score, one rank; the order within it (and any tie-break a host applies) is the same.
    assert standings(competition) == [(1, "bob", 0.80), (1, "charlie", 0.80), (1, "alice", 0.80)]
    assert BoardEntry.objects.get(user=bob).submission_id == bob_entry.pk


def test_an_equal_later_score_does_not_replace_the_earlier_entry(competition, alice):
    make_participations(competition, alice)
    first = make_entry(competition, alice, 0.80)
    make_entry(competition, alice, 0.80)
    assert BoardEntry.objects.get(user=alice).submission_id == first.pk


def test_failed_cancelled_and_unscored_entries_never_rank(competition, alice, bob, charlie):
    make_participations(competition, alice, bob, charlie)
    make_entry(competition, alice, 0.5)
    make_entry(competition, bob, status=Status.FAILED)
    make_entry(competition, bob, status=Status.CANCELLED)
    make_entry(competition, charlie, status=Status.QUEUED)
    assert standings(competition) == [(1, "alice", 0.5)]
    assert BoardEntry.objects.get(user=bob).entry_count == 0
    assert BoardEntry.objects.get(user=charlie).entry_count == 1


def test_lower_is_better_metrics_rank_ascending(alice, bob, charlie):
    competition = make_bare_competition(metric="rmse", higher_is_better=False, task_type="regression")
    make_participations(competition, alice, bob, charlie)
    make_entry(competition, alice, 2.5)
    make_entry(competition, alice, 1.5)
    make_entry(competition, alice, 3.0)
    make_entry(competition, bob, 1.2)
    make_entry(competition, charlie, 4.0)
    assert standings(competition) == [(1, "bob", 1.2), (2, "alice", 1.5), (3, "charlie", 4.0)]


def test_failing_the_shown_entry_falls_back_to_the_next_best(competition, alice):
    make_participations(competition, alice)
    make_entry(competition, alice, 0.7)
    best = make_entry(competition, alice, 0.9)
    best.status = Status.CANCELLED
    best.save()
    from podium.leaderboards.services import board_record_entry

    board_record_entry(submission=best)
    row = BoardEntry.objects.get(user=alice)
    assert (row.score, row.entry_count) == (0.7, 1)


def test_the_interval_marker_flags_rows_that_overlap_the_leader(competition, alice, bob, charlie, dave):
    make_participations(competition, alice, bob, charlie, dave)
    make_entry(competition, alice, 0.90, ci=(0.86, 0.94))
    make_entry(competition, bob, 0.88, ci=(0.85, 0.91))  # 0.85..0.91 meets 0.86..0.94
    make_entry(competition, charlie, 0.80, ci=(0.78, 0.82))  # ends below 0.86
    make_entry(competition, dave, 0.84, ci=(0.80, 0.86))  # touches the leader's low end
    page = board_page(competition=competition, page=1, page_size=10)
    marks = [(r.entrant_name, r.ci_low, r.ci_high, r.overlaps_leader) for r in page.rows]
    assert marks == [
        ("alice", 0.86, 0.94, False),
        ("bob", 0.85, 0.91, True),
        ("dave", 0.80, 0.86, True),
        ("charlie", 0.78, 0.82, False),
    ]
    # On a later page the leader is still the reference.
    second = board_page(competition=competition, page=2, page_size=2)
    assert [(r.rank, r.entrant_name, r.overlaps_leader) for r in second.rows] == [
        (3, "dave", True),
        (4, "charlie", False),
    ]


def test_the_ladder_shows_a_new_score_only_beyond_the_step(alice, bob):
    competition = make_bare_competition(ladder_enabled=True, ladder_step=0.05)
    make_participations(competition, alice, bob)
    shown = []
    for score in (0.80, 0.83, 0.86, 0.89, 0.91):
        make_entry(competition, alice, score)
        shown.append(BoardEntry.objects.get(user=alice).score)
    # 0.83 and 0.89 do not beat the shown score by more than 0.05; released scores are
    # rounded to the nearest multiple of the step (0.86 -> 0.85, 0.91 -> 0.90).
    assert shown == [0.80, 0.80, 0.85, 0.85, 0.90]
    # bob's 0.88 is shown as 0.90 too: one rank, alice's earlier entry listed first.
    make_entry(competition, bob, 0.88)
    assert standings(competition) == [(1, "alice", 0.90), (1, "bob", 0.90)]


def test_the_ladder_on_a_lower_is_better_metric(alice):
    competition = make_bare_competition(
        metric="rmse", higher_is_better=False, task_type="regression", ladder_enabled=True, ladder_step=0.1
    )
    make_participations(competition, alice)
    shown = []
    for score in (1.00, 0.95, 0.83, 0.76, 0.68):
        make_entry(competition, alice, score)
        shown.append(BoardEntry.objects.get(user=alice).score)
    # Released only below shown - 0.1: 0.83 (shown as 0.8) and 0.68 (shown as 0.7).
    assert shown == [1.0, 1.0, 0.8, 0.8, 0.7]


def test_the_ladder_is_off_by_default(competition, alice):
    make_participations(competition, alice)
    make_entry(competition, alice, 0.80)
    make_entry(competition, alice, 0.81)
    assert BoardEntry.objects.get(user=alice).score == 0.81
    assert competition.ladder_enabled is False


def test_own_row_rank_on_a_deep_page(competition, alice, bob, charlie, dave, erin):
    make_participations(competition, alice, bob, charlie, dave, erin)
    for user, score in ((bob, 0.9), (charlie, 0.8), (dave, 0.7), (erin, 0.6), (alice, 0.5)):
        make_entry(competition, user, score)
    page = board_page(competition=competition, page=1, page_size=2, user=alice)
    assert [r.entrant_name for r in page.rows] == ["bob", "charlie"]
    assert (page.mine.rank, page.mine.entrant_name, page.mine.is_mine) == (5, "alice", True)
    assert page.pages == 3


def test_rank_of_a_single_row_matches_the_page(competition, alice, bob, charlie):
    from podium.leaderboards.selectors import board_rank_of

    make_participations(competition, alice, bob, charlie)
    now = timezone.now()
    make_entry(competition, alice, 0.8, 0.5, at=now - timedelta(hours=1))
    make_entry(competition, bob, 0.8, 0.9, at=now - timedelta(hours=2))
    make_entry(competition, charlie, 0.9, 0.7)
    ranks = {r.user.username: board_rank_of(entry=r, board="public") for r in BoardEntry.objects.all()}
    assert ranks == {"charlie": 1, "bob": 2, "alice": 2}  # tied public scores share a rank
    private = {r.user.username: board_rank_of(entry=r, board="private") for r in BoardEntry.objects.all()}
    assert private == {"bob": 1, "charlie": 2, "alice": 3}


def test_applying_a_score_is_a_fixed_few_statements(competition, alice, bob):
    """The scorer's hot path: team lookup (only when the intake left the team unset), the
    row lock, the entry count with the picks, one UPDATE; whatever the number of entries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from podium.leaderboards.services import board_record_score
    from podium.teams.services import team_create

    make_participations(competition, alice, bob)
    for i in range(6):
        make_entry(competition, alice, 0.5 + i / 100)
    late = make_entry(competition, alice, 0.70, private=0.99, record=False)
    late.status, late.public_score, late.private_score = Status.SCORED, 0.70, 0.99
    late.save()
    with CaptureQueriesContext(connection) as ctx:
        row = board_record_score(submission=late)
    assert len(ctx.captured_queries) == 4, [q["sql"] for q in ctx.captured_queries]
    # Recounted from the entries: the 7th entry (never seen by the intake) is counted.
    assert (row.score, row.entry_count, row.private_score) == (0.70, 7, 0.99)
    assert BoardEntry.objects.get(pk=row.pk).last_submitted_at == late.created_at

    team = team_create(user=bob, competition=competition, name="Owls")
    make_entry(competition, bob, 0.55, team=team)  # the team's row exists from here on
    stamped = make_entry(competition, bob, 0.60, team=team, record=False)
    stamped.status, stamped.public_score, stamped.private_score = Status.SCORED, 0.60, 0.60
    stamped.save()
    with CaptureQueriesContext(connection) as ctx:
        row = board_record_score(submission=stamped)
    assert len(ctx.captured_queries) == 3, [q["sql"] for q in ctx.captured_queries]
    assert (row.team_id, row.score, row.entry_count) == (team.pk, 0.60, 2)


def test_a_tie_across_a_page_boundary_keeps_its_rank(competition, alice, bob, charlie, dave, erin):
    make_participations(competition, alice, bob, charlie, dave, erin)
    now = timezone.now()
    for i, (user, score) in enumerate(((alice, 0.9), (bob, 0.8), (charlie, 0.8), (dave, 0.8), (erin, 0.7))):
        make_entry(competition, user, score, at=now - timedelta(hours=10 - i))
    pages = [board_page(competition=competition, page=n, page_size=2).rows for n in (1, 2, 3)]
    assert [[(r.rank, r.entrant_name) for r in rows] for rows in pages] == [
        [(1, "alice"), (2, "bob")],
        [(2, "charlie"), (2, "dave")],  # tied with bob on the page before
        [(5, "erin")],
    ]

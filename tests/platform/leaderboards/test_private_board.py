"""Final picks, the private board, the reveal boundary and the shake-up."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from podium.errors import ApplicationError
from podium.leaderboards.models import BoardEntry
from podium.leaderboards.selectors import board_page
from podium.leaderboards.services import boards_reveal_due, final_pick_toggle
from podium.leaderboards.tasks import reveal_due
from podium.submissions.models import Status
from tests.factories.accounts import make_user
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.leaderboards import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(competition, alice, bob):
    """alice: public .90/.85/.80 with private .70/.88/.95; bob: public .95, private .60."""
    make_participations(competition, alice, bob)
    a1 = make_entry(competition, alice, 0.90, 0.70)
    a2 = make_entry(competition, alice, 0.85, 0.88)
    a3 = make_entry(competition, alice, 0.80, 0.95)
    b1 = make_entry(competition, bob, 0.95, 0.60)
    return {"a1": a1, "a2": a2, "a3": a3, "b1": b1}


def closed(competition):
    """The competition as it is once closed to entries (a copy: the row stays open), when
    staff may see its private board."""
    at_close = copy.copy(competition)
    at_close.ends_at = timezone.now()
    return at_close


def private_rows(competition, admin_user):
    page = board_page(competition=closed(competition), board="private", page=1, page_size=10, user=admin_user)
    return [(r.rank, r.entrant_name, r.score, r.public_rank, r.move) for r in page.rows]


def test_default_picks_are_the_best_public_entries(board, competition, admin_user):
    # alice's two best public entries are .90 and .85: the best private among them is .88.
    assert private_rows(competition, admin_user) == [(1, "alice", 0.88, 2, 1), (2, "bob", 0.60, 1, -1)]


def test_chosen_picks_replace_the_defaults(board, competition, alice, admin_user):
    final_pick_toggle(submission_id=board["a3"].pk, user=alice)
    assert private_rows(competition, admin_user)[0] == (1, "alice", 0.95, 2, 1)
    final_pick_toggle(submission_id=board["a3"].pk, user=alice)  # unpick: the defaults apply again
    assert private_rows(competition, admin_user)[0] == (1, "alice", 0.88, 2, 1)


def test_picks_are_validated(board, competition, alice, bob):
    final_pick_toggle(submission_id=board["a1"].pk, user=alice)
    final_pick_toggle(submission_id=board["a2"].pk, user=alice)
    with pytest.raises(ApplicationError, match=r"already chose 2 of 2 final picks"):
        final_pick_toggle(submission_id=board["a3"].pk, user=alice)
    with pytest.raises(ApplicationError, match=r"No submission"):
        final_pick_toggle(submission_id=board["a3"].pk, user=bob)
    failed = make_entry(competition, alice, status=Status.FAILED)
    final_pick_toggle(submission_id=board["a2"].pk, user=alice)
    with pytest.raises(ApplicationError, match=r"Only scored entries can be final picks: #\d+ is failed"):
        final_pick_toggle(submission_id=failed.pk, user=alice)
    with pytest.raises(ApplicationError, match=r"Final picks closed at the deadline"):
        final_pick_toggle(submission_id=board["a3"].pk, user=alice, now=competition.ends_at)


def test_private_board_is_hidden_until_the_reveal(board, competition, alice, admin_user):
    with pytest.raises(PermissionDenied, match="hidden while entries are accepted and until it is revealed"):
        board_page(competition=competition, board="private", user=alice)
    with pytest.raises(PermissionDenied):
        board_page(competition=competition, board="private", user=None)
    # Staff too, while entries are accepted; after the close they may look before the reveal.
    with pytest.raises(PermissionDenied):
        board_page(competition=competition, board="private", user=admin_user)
    assert board_page(competition=closed(competition), board="private", user=admin_user).count == 2
    with pytest.raises(PermissionDenied):
        board_page(competition=closed(competition), board="private", user=alice)


def test_the_beat_task_reveals_at_the_deadline_not_before(board, alice):
    competition = board["a1"].competition
    assert boards_reveal_due(now=competition.ends_at - timedelta(seconds=1)) == []
    competition.refresh_from_db()
    assert competition.private_revealed_at is None
    assert boards_reveal_due(now=competition.ends_at) == [competition.slug]
    competition.refresh_from_db()
    assert competition.private_revealed_at == competition.ends_at
    page = board_page(competition=closed(competition), board="private", user=alice)
    assert [(r.rank, r.entrant_name, r.score) for r in page.rows] == [(1, "alice", 0.88), (2, "bob", 0.60)]
    assert boards_reveal_due(now=competition.ends_at + timedelta(days=1)) == []  # once


def test_the_task_reveals_a_past_competition(alice):
    past = make_bare_competition(
        starts_at=timezone.now() - timedelta(days=9), ends_at=timezone.now() - timedelta(minutes=1)
    )
    assert past.slug in reveal_due.apply().get()
    past.refresh_from_db()
    assert past.private_revealed_at is not None


def test_lower_is_better_private_board(alice, bob, admin_user):
    competition = make_bare_competition(metric="rmse", higher_is_better=False, task_type="regression")
    make_participations(competition, alice, bob)
    make_entry(competition, alice, 1.0, 2.0)
    make_entry(competition, alice, 1.1, 1.5)
    make_entry(competition, alice, 1.2, 0.5)  # third best public: not a default pick
    make_entry(competition, bob, 1.05, 1.8)
    # public: alice 1.0 (1), bob 1.05 (2); private: alice min(2.0, 1.5) = 1.5 (1), bob 1.8 (2)
    assert private_rows(competition, admin_user) == [(1, "alice", 1.5, 1, 0), (2, "bob", 1.8, 2, 0)]


def test_shake_up_with_three_rows(competition, alice, bob, charlie, admin_user):
    make_participations(competition, alice, bob, charlie)
    make_entry(competition, alice, 0.90, 0.70)
    make_entry(competition, bob, 0.80, 0.90)
    make_entry(competition, charlie, 0.70, 0.80)
    assert private_rows(competition, admin_user) == [
        (1, "bob", 0.90, 2, 1),
        (2, "charlie", 0.80, 3, 1),
        (3, "alice", 0.70, 1, -2),
    ]
    assert BoardEntry.objects.filter(competition=competition).count() == 3


def _reference_private_page(competition, *, offset, page_size):
    """The private page as the CSV export numbers it: both ranks by ROW_NUMBER windows over
    the whole board (ties in the tail broken by id). (id, rank, public rank, score)."""
    from django.db.models import F

    from podium.competitions.selectors import competition_phase
    from podium.leaderboards.selectors import PRIVATE_ORDER, _ranked, _with_both_ranks

    private_order = [F(name).asc(nulls_last=True) for name in PRIVATE_ORDER]
    ranked = _with_both_ranks(_ranked(competition_phase(competition=competition), False)).order_by(
        *private_order, "id"
    )
    return [
        (e.pk, e.private_rank if e.private_rank_key is not None else None, e.public_rank, e.private_score)
        for e in ranked[offset : offset + page_size]
    ]


def test_private_pages_equal_the_whole_board_ranking(admin_user):
    """Index slices and one public pass give every page exactly what numbering the whole
    board by both orders gives: ties in score, teams, and rows with no private score (the
    unranked tail, after every ranked row)."""
    from podium.teams.services import team_create

    competition = make_bare_competition()
    users = [make_user(f"r{i}") for i in range(23)]
    make_participations(competition, *users)
    team = team_create(user=users[0], competition=competition, name="Herons")
    start = timezone.now() - timedelta(hours=5)
    for i, user in enumerate(users):
        # Coarse scores: equal public and private scores, told apart by time and id.
        for j in range(1 + i % 3):
            public = round(0.5 + ((i * 7 + j * 3) % 10) / 20, 2)
            private = round(0.5 + ((i * 5 + j) % 8) / 16, 2)
            at = start + timedelta(minutes=(i * 13 + j * 7) % 40)
            make_entry(competition, user, public, private, at=at, team=team if i == 0 else None)
    no_private = BoardEntry.objects.filter(competition=competition).order_by("id")[3:23:6]
    BoardEntry.objects.filter(pk__in=[e.pk for e in no_private]).update(
        private_score=None, private_rank_key=None, private_submission_id=None, private_submitted_at=None
    )
    total = BoardEntry.objects.filter(competition=competition, rank_key__isnull=False).count()
    assert total == 23
    for page_size in (1, 4, 7, 23, 50):
        seen = []
        for page in range(1, total // page_size + 3):
            got = board_page(
                competition=closed(competition),
                board="private",
                page=page,
                page_size=page_size,
                user=admin_user,
            )
            assert got.count == total
            rows = [(r.id, r.rank, r.public_rank, r.score) for r in got.rows]
            want = _reference_private_page(competition, offset=(page - 1) * page_size, page_size=page_size)
            ranked_rows = [r for r in rows if r[1] is not None]
            # Rows with no private score have no rank; their order among themselves is the id's.
            assert ranked_rows == [w for w in want if w[1] is not None], (page_size, page)
            assert {r[0] for r in rows} == {w[0] for w in want}, (page_size, page)
            assert all(r.move == (r.public_rank - r.rank if r.rank else None) for r in got.rows)
            seen += [r[0] for r in rows]
        assert sorted(seen) == sorted(set(seen)) and len(seen) == total  # every row once
    # The team's row is the caller's own, on the page and beside it (once revealed).
    competition.ends_at = competition.private_revealed_at = timezone.now()
    competition.save(update_fields=["ends_at", "private_revealed_at"])
    mine = board_page(competition=competition, board="private", page=1, page_size=50, user=users[0])
    assert [r.entrant_name for r in mine.rows if r.is_mine] == [
        "Herons"
    ] and mine.mine.entrant_name == "Herons"

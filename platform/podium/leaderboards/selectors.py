"""Reads of the boards, filtered by who asks. Ranks come from the board index, never
from submissions: a page is a slice of the index, a single row's rank is a count of
the index entries before it (docs/leaderboard.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.http import Http404

from podium.accounts.models import TeamMembership
from podium.leaderboards.entrants import Entrant
from podium.leaderboards.models import BoardEntry
from podium.leaderboards.services import final_picks_effective

PUBLIC, PRIVATE = "public", "private"
BOARDS = (PUBLIC, PRIVATE)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

PUBLIC_ORDER = ("rank_key", "submitted_at", "submission_id")
PRIVATE_ORDER = ("private_rank_key", "private_submitted_at", "private_submission_id")


@dataclass
class BoardRow:
    id: int
    rank: int | None
    entrant_name: str
    kind: str  # "participant" or "team"
    score: float | None
    submission_id: int | None
    submitted_at: datetime | None
    entry_count: int
    last_submitted_at: datetime | None
    ci_low: float | None = None
    ci_high: float | None = None
    overlaps_leader: bool | None = None
    public_rank: int | None = None
    private_rank: int | None = None
    move: int | None = None
    is_mine: bool = False


@dataclass
class BoardPage:
    board: str
    revealed: bool
    count: int
    page: int
    page_size: int
    rows: list[BoardRow] = field(default_factory=list)
    mine: BoardRow | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))


def private_board_visible(*, competition, user) -> bool:
    return competition.private_revealed_at is not None or bool(user is not None and user.is_staff)


def board_check_visible(*, competition, board: str, user) -> None:
    if board not in BOARDS:
        raise ValueError(f"board={board!r}: use 'public' or 'private'")
    if board == PRIVATE and not private_board_visible(competition=competition, user=user):
        raise PermissionDenied(
            f"The private board of '{competition.slug}' is hidden until it is revealed "
            f"(at the deadline, {competition.ends_at:%Y-%m-%d %H:%M} UTC)."
        )


def _ranked(competition) -> QuerySet[BoardEntry]:
    return BoardEntry.objects.filter(competition=competition, rank_key__isnull=False).select_related(
        "user", "team"
    )


def _with_both_ranks(qs: QuerySet[BoardEntry]) -> QuerySet[BoardEntry]:
    private_order = [F(name).asc(nulls_last=True) for name in PRIVATE_ORDER]
    return qs.annotate(
        public_rank=Window(RowNumber(), order_by=[F(name).asc() for name in PUBLIC_ORDER]),
        private_rank=Window(RowNumber(), order_by=private_order),
    )


def _to_row(entry: BoardEntry, *, board: str, rank: int | None, user) -> BoardRow:
    mine = user is not None and user.is_authenticated and _is_member(entry, user)
    if board == PUBLIC:
        return BoardRow(
            id=entry.pk,
            rank=rank,
            entrant_name=entry.entrant_name,
            kind="team" if entry.team_id else "participant",
            score=entry.score,
            submission_id=entry.submission_id,
            submitted_at=entry.submitted_at,
            entry_count=entry.entry_count,
            last_submitted_at=entry.last_submitted_at,
            ci_low=entry.ci_low,
            ci_high=entry.ci_high,
            is_mine=mine,
        )
    public_rank = getattr(entry, "public_rank", None)
    return BoardRow(
        id=entry.pk,
        rank=rank if entry.private_rank_key is not None else None,
        entrant_name=entry.entrant_name,
        kind="team" if entry.team_id else "participant",
        score=entry.private_score,
        submission_id=entry.private_submission_id,
        submitted_at=entry.private_submitted_at,
        entry_count=entry.entry_count,
        last_submitted_at=entry.last_submitted_at,
        public_rank=public_rank,
        private_rank=rank if entry.private_rank_key is not None else None,
        move=(public_rank - rank) if public_rank is not None and entry.private_rank_key is not None else None,
        is_mine=mine,
    )


def _is_member(entry: BoardEntry, user) -> bool:
    if entry.team_id is None:
        return entry.user_id == user.pk
    # Filled once per request by the caller's row lookup (see board_page), so a page stays O(1) queries.
    return entry.team_id == getattr(user, "_board_team_id", None)


def _mark_overlaps(rows: list[BoardRow], leader: BoardEntry | None) -> None:
    """Rows whose 95% interval overlaps the leader's: the rank difference may be noise."""
    if leader is None or leader.ci_low is None or leader.ci_high is None:
        return
    for row in rows:
        if row.id == leader.pk or row.ci_low is None or row.ci_high is None:
            row.overlaps_leader = False if row.id == leader.pk else None
            continue
        row.overlaps_leader = row.ci_low <= leader.ci_high and row.ci_high >= leader.ci_low


def _count_before(*, competition_id: int, entry: BoardEntry, columns: tuple[str, str, str]) -> int:
    """How many rows rank before this one: an index range count on the row-value order."""
    values = [getattr(entry, columns[0]), getattr(entry, columns[1]), getattr(entry, columns[2] + "_id")]
    if None in values:
        return 0
    values[1] = connection.ops.adapt_datetimefield_value(values[1])
    table = BoardEntry._meta.db_table
    key_col = columns[0]
    sql = (
        f"SELECT COUNT(*) FROM {table} WHERE competition_id = %s AND {key_col} IS NOT NULL "
        f"AND ({columns[0]}, {columns[1]}, {columns[2]}_id) < (%s, %s, %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [competition_id, *values])
        return cursor.fetchone()[0]


def board_rank_of(*, entry: BoardEntry, board: str) -> int | None:
    """One row's rank: 1 + the index entries before it (a row-value range count)."""
    if board == PUBLIC:
        if entry.rank_key is None:
            return None
        columns = ("rank_key", "submitted_at", "submission")
    else:
        if entry.private_rank_key is None:
            return None
        columns = ("private_rank_key", "private_submitted_at", "private_submission")
    return 1 + _count_before(competition_id=entry.competition_id, entry=entry, columns=columns)


def _page_entries(competition, *, offset: int, page_size: int) -> tuple[list[BoardEntry], int]:
    """A deferred join: the page's ids (and the row count) from the index alone, then only
    those rows. A deep OFFSET then walks index entries, not table rows."""
    ids_and_count = list(
        BoardEntry.objects.filter(competition=competition, rank_key__isnull=False)
        .annotate(total=Window(Count("id")))
        .order_by(*PUBLIC_ORDER)
        .values_list("id", "total")[offset : offset + page_size]
    )
    if not ids_and_count:
        return [], _ranked(competition).count()
    ids = [pk for pk, _ in ids_and_count]
    by_id = _ranked(competition).in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id], ids_and_count[0][1]


def _rank_sql(columns: tuple[str, str, str]) -> RawSQL:
    """1 + the index entries before the outer row, as a correlated row-value count."""
    t = BoardEntry._meta.db_table
    a, b, c = columns
    return RawSQL(
        f"SELECT 1 + COUNT(*) FROM {t} AS before WHERE before.competition_id = {t}.competition_id "
        f"AND before.{a} IS NOT NULL AND (before.{a}, before.{b}, before.{c}) < ({t}.{a}, {t}.{b}, {t}.{c})",
        [],
    )


def board_row_of(*, competition, user, with_ranks: tuple[str, ...] = ()) -> BoardEntry | None:
    """The caller's row (their team's when they are in one), with its ranks, in one query."""
    if user is None or not user.is_authenticated:
        return None
    teams = TeamMembership.objects.filter(competition=competition, user=user).values("team_id")
    qs = BoardEntry.objects.select_related("user", "team").filter(competition=competition)
    qs = qs.filter(Q(user=user, team__isnull=True) | Q(team__in=Subquery(teams)))
    if PUBLIC in with_ranks:
        qs = qs.annotate(own_public_rank=_rank_sql(("rank_key", "submitted_at", "submission_id")))
    if PRIVATE in with_ranks:
        qs = qs.annotate(
            own_private_rank=_rank_sql(("private_rank_key", "private_submitted_at", "private_submission_id"))
        )
    # A team's row wins over a stale personal one.
    row = qs.order_by(F("team_id").desc(nulls_last=True)).first()
    user._board_team_id = row.team_id if row is not None else None
    return row


def board_page(
    *, competition, board: str = PUBLIC, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE, user=None
) -> BoardPage:
    """One page of a board plus the caller's own row (wherever it ranks)."""
    board_check_visible(competition=competition, board=board, user=user)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    page = max(1, page)
    offset = (page - 1) * page_size
    own = board_row_of(
        competition=competition, user=user, with_ranks=(PUBLIC,) if board == PUBLIC else (PUBLIC, PRIVATE)
    )
    ranked = _ranked(competition)
    result = BoardPage(
        board=board,
        revealed=competition.private_revealed_at is not None,
        count=0,
        page=page,
        page_size=page_size,
    )
    if board == PUBLIC:
        entries, result.count = _page_entries(competition, offset=offset, page_size=page_size)
        result.rows = [
            _to_row(e, board=PUBLIC, rank=offset + i + 1, user=user) for i, e in enumerate(entries)
        ]
        leader = entries[0] if entries and offset == 0 else ranked.order_by(*PUBLIC_ORDER).first()
        if own is not None and own.rank_key is not None:
            result.mine = _to_row(own, board=PUBLIC, rank=own.own_public_rank, user=user)
        _mark_overlaps(result.rows + ([result.mine] if result.mine else []), leader)
        return result

    result.count = ranked.count()
    private_order = [F(name).asc(nulls_last=True) for name in PRIVATE_ORDER]
    entries = list(_with_both_ranks(ranked).order_by(*private_order)[offset : offset + page_size])
    result.rows = [_to_row(e, board=PRIVATE, rank=e.private_rank, user=user) for e in entries]
    if own is not None and own.rank_key is not None:
        own.public_rank = own.own_public_rank
        private_rank = own.own_private_rank if own.private_rank_key is not None else None
        result.mine = _to_row(own, board=PRIVATE, rank=private_rank, user=user)
    return result


def board_rows_all(*, competition, board: str, user) -> list[BoardRow]:
    """Every ranked row in board order, for the CSV export."""
    board_check_visible(competition=competition, board=board, user=user)
    ranked = _ranked(competition)
    if board == PUBLIC:
        entries = ranked.order_by(*PUBLIC_ORDER)
        rows = [_to_row(e, board=PUBLIC, rank=i + 1, user=None) for i, e in enumerate(entries.iterator())]
        _mark_overlaps(rows, entries.first())
        return rows
    private_order = [F(name).asc(nulls_last=True) for name in PRIVATE_ORDER]
    return [
        _to_row(e, board=PRIVATE, rank=e.private_rank, user=None)
        for e in _with_both_ranks(ranked).order_by(*private_order).iterator()
    ]


# --- a row's entry history (its owner and admins only) ---------------------------------


@dataclass
class HistoryItem:
    submission_id: int
    created_at: datetime
    status: str
    public_score: float | None
    public_ci_low: float | None
    public_ci_high: float | None
    private_score: float | None
    is_final_pick: bool
    counts_as_final_pick: bool
    shown_on_board: bool


def board_row_get_for_owner(*, competition, row_id: int, user) -> BoardEntry:
    """The row when the caller owns it (or is an admin); otherwise it does not exist."""
    entry = (
        BoardEntry.objects.select_related("user", "team").filter(competition=competition, pk=row_id).first()
    )
    if entry is None or user is None or not user.is_authenticated:
        raise Http404("No such board row.")
    if user.is_staff:
        return entry
    if entry.team_id is None and entry.user_id == user.pk:
        return entry
    if entry.team_id is not None and entry.team.memberships.filter(user=user).exists():
        return entry
    raise Http404("No such board row.")


def board_row_history(*, competition, entry: BoardEntry, user) -> list[HistoryItem]:
    entrant = Entrant(competition_id=competition.pk, user_id=entry.user_id, team_id=entry.team_id)
    picks = {s.pk for s in final_picks_effective(entrant=entrant, competition=competition)}
    show_private = private_board_visible(competition=competition, user=user)
    # Under the Ladder the board withholds exact public scores: so does the history.
    show_public = not competition.ladder_enabled or bool(user and user.is_staff)
    items = []
    for s in entrant.submissions().order_by("-created_at", "-id"):
        items.append(
            HistoryItem(
                submission_id=s.pk,
                created_at=s.created_at,
                status=s.status,
                public_score=s.public_score if show_public else None,
                public_ci_low=s.public_ci_low if show_public else None,
                public_ci_high=s.public_ci_high if show_public else None,
                private_score=s.private_score if show_private else None,
                is_final_pick=s.is_final_pick,
                counts_as_final_pick=s.pk in picks,
                shown_on_board=s.pk == entry.submission_id,
            )
        )
    return items


def competition_for_board(*, slug: str, user):
    """The competition by slug, without the list page's counts (a board read stays O(1))."""
    from podium.competitions.models import Competition

    qs = Competition.objects.filter(slug=slug)
    if not (user is not None and user.is_authenticated and user.is_staff):
        qs = qs.filter(is_published=True)
    found = qs.first()
    if found is None:
        raise Http404("No such competition.")
    return found

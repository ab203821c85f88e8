"""Reads of the boards, filtered by who asks. Ranks come from the board index, never
from submissions: a page is a slice of the index, a single row's rank is a count of
the index entries before it (docs/leaderboard.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, Q, QuerySet, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Rank
from django.http import Http404

from podium.accounts.models import User
from podium.competitions.phases import INHERITED, PhaseView
from podium.competitions.selectors import competition_phase, competition_phases  # noqa: F401  (the API's too)
from podium.leaderboards.models import BoardEntry
from podium.leaderboards.rows import aware
from podium.leaderboards.services import final_picks_effective
from podium.submissions.entrants import Entrant
from podium.submissions.selectors import private_scores_visible
from podium.teams.models import Team, TeamMembership

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
    # The competition's other metrics on this board (public or private), {name: score|None}.
    extra_scores: dict = field(default_factory=dict)

    def extra_values(self, names) -> list[float | None]:
        return [self.extra_scores.get(name) for name in names]


@dataclass
class BoardPage:
    board: str
    revealed: bool
    count: int
    page: int
    page_size: int
    rows: list[BoardRow] = field(default_factory=list)
    mine: BoardRow | None = None
    # The competition's other metrics, shown as columns after the ranking score.
    extra_metrics: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))


def board_phase(*, competition, phase: str | PhaseView | None = None) -> PhaseView:
    """The phase a board read means: a PhaseView as given, a slug, or none (the current phase)."""
    if isinstance(phase, PhaseView):
        return phase
    return competition_phase(competition=competition, slug=phase)


def board_check_visible(*, competition, board: str, user, phase: PhaseView | None = None) -> None:
    if board not in BOARDS:
        raise ValueError(f"board={board!r}: use 'public' or 'private'")
    phase = board_phase(competition=competition, phase=phase)
    if board == PRIVATE and not private_scores_visible(competition=competition, user=user, phase=phase):
        when = (
            f"at the deadline, {phase.ends_at:%Y-%m-%d %H:%M} UTC" if phase.ends_at else "it has no deadline"
        )
        raise PermissionDenied(
            f"The private board of '{competition.slug}' is hidden while entries are accepted and until "
            f"it is revealed ({when})."
        )


def _ranked(phase: PhaseView, late: bool) -> QuerySet[BoardEntry]:
    return BoardEntry.objects.filter(phase_id=phase.pk, late=late, rank_key__isnull=False).select_related(
        "user", "team"
    )


def _with_both_ranks(qs: QuerySet[BoardEntry]) -> QuerySet[BoardEntry]:
    private_order = [F(name).asc(nulls_last=True) for name in PRIVATE_ORDER]
    return qs.annotate(
        # Rank, not RowNumber: tied scores share a rank (1, 2, 2, 4), on every board.
        public_rank=Window(Rank(), order_by=F(PUBLIC_ORDER[0]).asc()),
        private_rank=Window(Rank(), order_by=private_order[0]),
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
            extra_scores=entry.extra_scores or {},
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
        extra_scores=entry.private_extra_scores or {},
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


def _count_before(*, entry: BoardEntry, columns: tuple[str, str, str]) -> int:
    """How many rows rank before this one: those with a strictly better key (a tied score
    shares the rank), an index range count."""
    key = getattr(entry, columns[0])
    if key is None:
        return 0
    table = BoardEntry._meta.db_table
    sql = f"SELECT COUNT(*) FROM {table} WHERE phase_id = %s AND late = %s AND {columns[0]} < %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [entry.phase_id, entry.late, key])
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
    return 1 + _count_before(entry=entry, columns=columns)


def _rank_sql(columns: tuple[str, str, str]) -> RawSQL:
    """1 + the rows with a strictly better key than the outer row's (ties share a rank)."""
    t = BoardEntry._meta.db_table
    a = columns[0]
    return RawSQL(
        f"SELECT 1 + COUNT(*) FROM {t} AS before WHERE before.phase_id = {t}.phase_id AND before.late = {t}.late "
        f"AND before.{a} < {t}.{a}",
        [],
    )


def board_row_of(
    *, competition, user, with_ranks: tuple[str, ...] = (), phase: PhaseView | None = None, late: bool = False
) -> BoardEntry | None:
    """The caller's row on a board (their team's when they are in one), with its ranks, in one query."""
    if user is None or not user.is_authenticated:
        return None
    phase = board_phase(competition=competition, phase=phase)
    teams = TeamMembership.objects.filter(competition=competition, user=user).values("team_id")
    qs = BoardEntry.objects.select_related("user", "team").filter(phase_id=phase.pk, late=late)
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


# --- the public page: one statement --------------------------------------------------
#
# A public page is the hot read: it is one precomposed statement rather than several
# ORM-built queries (building them cost more than running them). Three parts, told apart
# by the first column:
#   0  the page's rows: ids sliced from the index board_public_rank. A rank is 1 + the rows
#      with a strictly better key (tied scores share a rank: 1, 2, 2, 4): for a row past the
#      slice's first key that is the offset + its RANK within the slice (every earlier row
#      has a key no worse than the first); rows tied with the first key take one index
#      count of the rows before them, which may lie on earlier pages;
#   1  the caller's row (their team's when they are in one) with its rank, counted alike;
#   2  one row of facts: the board's row count (index), the caller's team, the leader's
#      id and interval (the overlap marker).
_BE = BoardEntry._meta.db_table
_USER = User._meta.db_table
_TEAM = Team._meta.db_table
_MEMBER = TeamMembership._meta.db_table
_ROW_COLUMNS = (
    "b.id, b.user_id, b.team_id, b.score, b.submission_id, b.submitted_at, b.entry_count, "
    "b.last_submitted_at, b.ci_low, b.ci_high, u.username, u.display_name, t.name, b.extra_scores"
)
_ROW_JOINS = f"LEFT JOIN {_USER} u ON u.id = b.user_id LEFT JOIN {_TEAM} t ON t.id = b.team_id"
_MY_TEAM = (
    f"SELECT m.team_id FROM {_MEMBER} m "
    "WHERE m.competition_id = %(c)s AND m.user_id = %(u)s ORDER BY m.id LIMIT 1"
)
_PUBLIC_PAGE_SQL = f"""
SELECT 0, {_ROW_COLUMNS},
  CASE WHEN p.rank_key = p.first_key
    THEN 1 + (SELECT COUNT(*) FROM {_BE} x WHERE x.phase_id = %(p)s AND x.late = %(l)s AND x.rank_key < p.first_key)
    ELSE %(offset)s + p.slice_rank END
FROM (
  SELECT id, rank_key, RANK() OVER (ORDER BY rank_key) AS slice_rank, MIN(rank_key) OVER () AS first_key
  FROM (
    SELECT id, rank_key, submitted_at, submission_id FROM {_BE}
    WHERE phase_id = %(p)s AND late = %(l)s AND rank_key IS NOT NULL
    ORDER BY rank_key, submitted_at, submission_id LIMIT %(limit)s OFFSET %(offset)s
  ) s
) p JOIN {_BE} b ON b.id = p.id {_ROW_JOINS}
UNION ALL
SELECT 1, {_ROW_COLUMNS},
  1 + (SELECT COUNT(*) FROM {_BE} x WHERE x.phase_id = b.phase_id AND x.late = b.late AND x.rank_key < b.rank_key)
FROM {_BE} b {_ROW_JOINS}
WHERE b.rank_key IS NOT NULL AND b.id = (
  SELECT o.id FROM {_BE} o WHERE o.phase_id = %(p)s AND o.late = %(l)s
  AND (o.team_id = ({_MY_TEAM}) OR (o.user_id = %(u)s AND o.team_id IS NULL))
  ORDER BY o.team_id IS NULL LIMIT 1
)
UNION ALL
SELECT 2, l.id, NULL, ({_MY_TEAM}), NULL, NULL, NULL, NULL, NULL, l.ci_low, l.ci_high, NULL, NULL, NULL,
  NULL, (SELECT COUNT(*) FROM {_BE} WHERE phase_id = %(p)s AND late = %(l)s AND rank_key IS NOT NULL)
FROM (SELECT 1 AS one) AS facts LEFT JOIN (
  SELECT id, ci_low, ci_high FROM {_BE} WHERE phase_id = %(p)s AND late = %(l)s AND rank_key IS NOT NULL
  ORDER BY rank_key, submitted_at, submission_id LIMIT 1
) l ON 1 = 1
"""


def _row_of_values(values, *, rank: int | None, user_id: int | None, team_id: int | None) -> BoardRow:
    (
        pk,
        row_user,
        row_team,
        score,
        sub_id,
        sub_at,
        count,
        last_at,
        low,
        high,
        username,
        display,
        team,
        extra,
    ) = values
    return BoardRow(
        id=pk,
        rank=rank,
        entrant_name=team if row_team else (display or username),
        kind="team" if row_team else "participant",
        score=score,
        submission_id=sub_id,
        submitted_at=aware(sub_at),
        entry_count=count,
        last_submitted_at=aware(last_at),
        ci_low=low,
        ci_high=high,
        is_mine=(row_user == user_id) if row_team is None else (team_id is not None and row_team == team_id),
        extra_scores=(json.loads(extra) if isinstance(extra, str | bytes) else extra) or {},
    )


def _public_page(
    *, competition, phase: PhaseView, late: bool, offset: int, page_size: int, user, result: BoardPage
) -> BoardPage:
    user_id = user.pk if user is not None and user.is_authenticated else None
    with connection.cursor() as cursor:
        cursor.execute(
            _PUBLIC_PAGE_SQL,
            {
                "c": competition.pk,
                "p": phase.pk,
                "l": late,
                "u": user_id,
                "limit": page_size,
                "offset": offset,
            },
        )
        fetched = cursor.fetchall()
    page, own, facts = [], None, None
    for values in fetched:
        if values[0] == 0:
            page.append(values)
        elif values[0] == 1:
            own = values
        else:
            facts = values
    team_id = facts[3]
    result.count = facts[15]
    # By rank, then (tied rows) the earlier submission, then the lower id: the board's order.
    page.sort(key=lambda values: (values[15], values[6], values[5]))
    result.rows = [_row_of_values(v[1:15], rank=v[15], user_id=user_id, team_id=team_id) for v in page]
    if own is not None:
        result.mine = _row_of_values(own[1:15], rank=own[15], user_id=user_id, team_id=team_id)
    if facts[1] is not None and facts[9] is not None and facts[10] is not None:
        leader = BoardEntry(pk=facts[1], ci_low=facts[9], ci_high=facts[10])
        _mark_overlaps(result.rows + ([result.mine] if result.mine else []), leader)
    return result


# --- the private page: slices of the two board indexes --------------------------------
#
# Shown to everyone at once when a competition is revealed. Numbering every row by both
# orders (two ROW_NUMBER windows) sorted the whole board twice per page: ~23 ms on a
# 10,000-row board. Instead the page is a slice of board_private_rank (rows with a
# private score; then the rows without one, by id, as the unranked tail), and each
# page row's public rank comes from one ordered pass over board_public_rank, matched
# on its public order key. Ranks count the rows with a strictly better key: tied scores
# share a rank (1, 2, 2, 4) on both boards.
#
# COUNT(column) counts the rows where it is set: the ranked rows, and those with a private
# score (which always have a public one), in one pass.
_PRIVATE_COUNTS_SQL = (
    f"SELECT COUNT(rank_key), COUNT(private_rank_key) FROM {_BE} WHERE phase_id = %(p)s AND late = %(l)s"
)
_PRIVATE_PAGE_SQL = f"""
SELECT s.part, s.position, b.id, b.user_id, b.team_id, b.private_score, b.private_submission_id,
  b.private_submitted_at, b.entry_count, b.last_submitted_at, NULL, NULL, u.username, u.display_name,
  t.name, b.private_extra_scores, pub.public_rank
FROM (
  SELECT 0 AS part, id, rank_key, submitted_at, submission_id,
    CASE WHEN private_rank_key = MIN(private_rank_key) OVER ()
      THEN 1 + (SELECT COUNT(*) FROM {_BE} x WHERE x.phase_id = %(p)s AND x.late = %(l)s
                AND x.private_rank_key < ranked.private_rank_key)
      ELSE %(ranked_offset)s + RANK() OVER (ORDER BY private_rank_key) END AS position
  FROM (
    SELECT id, rank_key, submitted_at, submission_id, private_rank_key, private_submitted_at,
      private_submission_id
    FROM {_BE} WHERE phase_id = %(p)s AND late = %(l)s AND private_rank_key IS NOT NULL
    ORDER BY private_rank_key, private_submitted_at, private_submission_id
    LIMIT %(ranked_limit)s OFFSET %(ranked_offset)s
  ) ranked
  UNION ALL
  SELECT 1, id, rank_key, submitted_at, submission_id, ROW_NUMBER() OVER (ORDER BY id)
  FROM (
    SELECT id, rank_key, submitted_at, submission_id FROM {_BE}
    WHERE phase_id = %(p)s AND late = %(l)s AND rank_key IS NOT NULL AND private_rank_key IS NULL
    ORDER BY id LIMIT %(tail_limit)s OFFSET %(tail_offset)s
  ) tail
) s
JOIN {_BE} b ON b.id = s.id {_ROW_JOINS}
LEFT JOIN (
  SELECT rank_key, submitted_at, submission_id,
    RANK() OVER (ORDER BY rank_key) AS public_rank
  FROM {_BE} WHERE phase_id = %(p)s AND late = %(l)s AND rank_key IS NOT NULL
) pub ON pub.rank_key = s.rank_key AND pub.submitted_at = s.submitted_at
  AND pub.submission_id = s.submission_id
"""


def _private_page_rows(
    *, phase_id: int, late: bool, offset: int, page_size: int, user
) -> tuple[list[BoardRow], int]:
    """One private page in board order, and the board's row count."""
    with connection.cursor() as cursor:
        cursor.execute(_PRIVATE_COUNTS_SQL, {"p": phase_id, "l": late})
        count, with_private = cursor.fetchone()
        ranked_limit = max(0, min(page_size, with_private - offset))
        cursor.execute(
            _PRIVATE_PAGE_SQL,
            {
                "p": phase_id,
                "l": late,
                "ranked_limit": ranked_limit,
                "ranked_offset": min(offset, with_private),
                "tail_limit": page_size - ranked_limit,
                "tail_offset": max(0, offset - with_private),
            },
        )
        fetched = cursor.fetchall()
    user_id = user.pk if user is not None and user.is_authenticated else None
    team_id = getattr(user, "_board_team_id", None)  # set by board_row_of
    rows: dict[int, BoardRow] = {}
    # Part, rank (the tail: its position), then among tied rows the earlier private entry and
    # its id; the tail's positions are unique, so its empty private columns are never compared.
    for values in sorted(fetched, key=lambda v: (v[0], v[1], v[7], v[6], v[16] or 0)):
        part, position, public = values[0], values[1], values[16]
        if values[2] in rows:
            continue  # two rows with the same public order key: the first number is kept
        rank = position if part == 0 else None  # part 0's position is its rank (ties share it)
        row = _row_of_values(values[2:16], rank=rank, user_id=user_id, team_id=team_id)
        row.public_rank, row.private_rank = public, rank
        row.move = (public - rank) if public is not None and rank is not None else None
        rows[row.id] = row
    return list(rows.values()), count


def board_page(
    *,
    competition,
    board: str = PUBLIC,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    user=None,
    phase: str | PhaseView | None = None,
    late: bool = False,
) -> BoardPage:
    """One page of a board plus the caller's own row (wherever it ranks). `phase`: the
    phase's board (none: the current phase's); `late`: its late board."""
    phase = board_phase(competition=competition, phase=phase)
    board_check_visible(competition=competition, board=board, user=user, phase=phase)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    page = max(1, page)
    offset = (page - 1) * page_size
    result = BoardPage(
        board=board,
        revealed=phase.private_revealed_at is not None,
        count=0,
        page=page,
        page_size=page_size,
        extra_metrics=board_extra_metrics(competition),
    )
    if board == PUBLIC:
        return _public_page(
            competition=competition,
            phase=phase,
            late=late,
            offset=offset,
            page_size=page_size,
            user=user,
            result=result,
        )

    own = board_row_of(
        competition=competition, user=user, with_ranks=(PUBLIC, PRIVATE), phase=phase, late=late
    )
    result.rows, result.count = _private_page_rows(
        phase_id=phase.pk, late=late, offset=offset, page_size=page_size, user=user
    )
    if own is not None and own.rank_key is not None:
        own.public_rank = own.own_public_rank
        private_rank = own.own_private_rank if own.private_rank_key is not None else None
        result.mine = _to_row(own, board=PRIVATE, rank=private_rank, user=user)
    return result


def board_extra_metrics(competition) -> list[str]:
    """The other metrics a board shows as columns, in the competition's order. Under the
    Ladder the public rows hold none of their values (leaderboards.services._public_extras)."""
    return list(competition.extra_metrics or ())


def board_rows_all(
    *, competition, board: str, user, phase: str | PhaseView | None = None, late: bool = False
) -> list[BoardRow]:
    """Every ranked row of a board in board order, for the CSV export."""
    phase = board_phase(competition=competition, phase=phase)
    board_check_visible(competition=competition, board=board, user=user, phase=phase)
    ranked = _ranked(phase, late)
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
    """The entries behind a board row: those of the row's board (its phase, late or not)."""
    phase = next(v for v in competition_phases(competition) if v.pk == entry.phase_id)
    entrant = Entrant(
        competition_id=competition.pk,
        user_id=entry.user_id,
        team_id=entry.team_id,
        phase_id=entry.phase_id,
        late=entry.late,
    )
    picks = {s.pk for s in final_picks_effective(entrant=entrant, competition=phase)}
    show_private = private_scores_visible(competition=competition, user=user, phase=phase)
    # Under the Ladder the board withholds exact public scores: so does the history.
    show_public = not competition.ladder_enabled or entry.late or bool(user and user.is_staff)
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


_PAGE_COMPETITION_FIELDS = (
    "id",
    "slug",
    "metric",
    "extra_metrics",
    "higher_is_better",
    "ladder_enabled",
    "ladder_step",
    "starts_at",
    "ends_at",
    "private_revealed_at",
    # What a phase inherits (competitions.phases): the board resolves the current phase.
    *INHERITED,
)


def competition_for_board_page(*, slug: str, user):
    """competition_for_board for a board page: only the columns a page reads, by a
    precomposed statement (the page is the hot read; the other fields stay deferred)."""
    from podium.competitions.models import Competition

    meta = Competition._meta
    columns = ", ".join(meta.get_field(name).column for name in _PAGE_COMPETITION_FIELDS)
    staff = bool(user is not None and user.is_authenticated and user.is_staff)
    sql = f"SELECT {columns} FROM {meta.db_table} WHERE slug = %s"
    if not staff:
        sql += f" AND {meta.get_field('is_published').column} = %s"
    found = next(iter(Competition.objects.raw(sql, [slug] if staff else [slug, True])), None)
    if found is None:
        raise Http404("No such competition.")
    return found


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

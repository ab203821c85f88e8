"""The fair queue: model entries wait in the database and go to the training queue a few at
a time, in fair order (docs/architecture.md, "Fair queue").

A queued model entry either waits its turn here (`released_at` null) or has been released:
its message is in the broker or in a worker's prefetch, not yet claimed. At most the window
(`dispatch_window()`) of released, unclaimed entries exist at once, so that one entrant's
hundred entries never stand in the broker ahead of everybody else's next one. Whenever a
place may have freed (an entry queued, claimed, cancelled or failed; and beat's periodic
release as a safety net) `submissions_release` sends the next entries:

- `fair` (default): the entrant (a team, or a person entering alone, across competitions)
  with the fewest entries in flight (released or running), then the one served longest ago,
  then the one whose oldest waiting entry is oldest; within it the competition by the same
  rule; within that the entry submitted first.
- `fifo`: the entry queued first, as the broker alone would order them (the fairness
  benchmark's baseline).

Dispatchers (web processes, the maintenance worker) are serialised by a transaction-level
lock, and each release is a conditional update of rows locked with SKIP LOCKED: no entry is
sent twice and the window is never exceeded. Prediction files never pass through here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Count, F, Max, Min, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from podium.submissions import dispatch
from podium.submissions.models import Status, Submission

log = logging.getLogger(__name__)

FAIR, FIFO = "fair", "fifo"
ORDERS = (FAIR, FIFO)

WAITING = Q(status=Status.QUEUED, released_at__isnull=True)
RELEASED = Q(status=Status.QUEUED, released_at__isnull=False)
IN_FLIGHT = RELEASED | Q(status=Status.RUNNING)

# The window when none is set and no training worker's capacity has been read (a
# filesystem broker has no remote control; a locmem cache is private to its process).
DEFAULT_WINDOW = 4
# Released messages per training worker process (at most the messages it holds at once): one
# on its way while the other is claimed. A worker with free threads claims what it receives at
# once and each claim releases the next, so more would not feed it faster; but every released
# message stands in the broker ahead of a newcomer's entry while the workers are full, so more
# would make a single entry wait behind that many of a flood.
RELEASED_PER_WORKER = 2
CAPACITY_CACHE_KEY = "podium:dispatch:capacity"
CAPACITY_REFRESH_S = 60
# One PostgreSQL advisory lock key for every dispatcher ("podium-release" as a number).
_LOCK_KEY = 0x706F6469756D72
# After a send fails, this process leaves releasing to the others (and to beat) for a moment
# rather than wait on a broker that is down while holding the dispatch lock.
BROKER_BACKOFF_S = 2.0
_broker_down_until = 0.0

EntrantKey = tuple[str, int]  # ("team", id) or ("user", id)


def entrant_key(*, user_id: int, team_id: int | None) -> EntrantKey:
    """Who takes turns: a team, or a person entering alone (in any competition)."""
    return ("team", team_id) if team_id is not None else ("user", user_id)


@dataclass
class Group:
    """One entrant's waiting entries in one competition, with what the order reads."""

    entrant: EntrantKey
    competition_id: int
    waiting: int
    oldest: datetime
    in_flight: int = 0  # this entrant's in this competition
    served: float | None = None  # when this entrant last had an entry released here (a timestamp)


@dataclass
class _Turns:
    """An entrant's standing in the order, over all its competitions."""

    in_flight: int = 0
    served: float | None = None
    groups: list[Group] = field(default_factory=list)


def _served_key(served: float | None) -> float:
    return float("-inf") if served is None else served


def _group_key(group: Group) -> tuple:
    return (group.in_flight, _served_key(group.served), group.oldest)


def fair_order(
    groups: list[Group],
    n: int,
    *,
    in_flight: dict[EntrantKey, int] | None = None,
    served: dict[EntrantKey, float] | None = None,
) -> list[Group]:
    """The next `n` releases as groups (a group comes back once per entry it gives), the
    round robin of the module's docstring. `in_flight` and `served` are per entrant over
    every competition (default: summed from the groups). The groups are updated as the
    releases are counted."""
    turns: dict[EntrantKey, _Turns] = {}
    for group in groups:
        turn = turns.setdefault(group.entrant, _Turns())
        turn.groups.append(group)
        if in_flight is None:
            turn.in_flight += group.in_flight
        if served is None and group.served is not None:
            turn.served = max(turn.served or group.served, group.served)
    for key, turn in turns.items():
        if in_flight is not None:
            turn.in_flight = in_flight.get(key, 0)
        if served is not None:
            turn.served = served.get(key)
    oldest = {key: min(g.oldest for g in turn.groups) for key, turn in turns.items()}
    picks: list[Group] = []
    # Releases in this pass are later than any recorded one, in the order they are made.
    tick = max([t.served for t in turns.values() if t.served is not None] or [0.0])
    while len(picks) < n:
        ready = [key for key, turn in turns.items() if any(g.waiting for g in turn.groups)]
        if not ready:
            break
        key = min(ready, key=lambda k: (turns[k].in_flight, _served_key(turns[k].served), oldest[k], k))
        turn = turns[key]
        group = min((g for g in turn.groups if g.waiting), key=lambda g: (*_group_key(g), g.competition_id))
        tick += 1.0
        group.waiting -= 1
        group.in_flight += 1
        group.served = tick
        turn.in_flight += 1
        turn.served = tick
        picks.append(group)
    return picks


# --- the window -------------------------------------------------------------------------------


def dispatch_window() -> int:
    """How many released entries may wait unclaimed: PODIUM_DISPATCH_WINDOW when set, else
    what the training workers take as last read (`training_capacity_refresh`), else
    DEFAULT_WINDOW."""
    if settings.PODIUM_DISPATCH_WINDOW:
        return settings.PODIUM_DISPATCH_WINDOW
    capacity = cache.get(CAPACITY_CACHE_KEY)
    return capacity if isinstance(capacity, int) and capacity > 0 else DEFAULT_WINDOW


def training_capacity_refresh() -> int | None:
    """Read what the training workers take through Celery's remote control and keep it for
    dispatch_window: RELEASED_PER_WORKER per worker consuming the training queue, at most its
    prefetch count (the messages it holds at once). At most every CAPACITY_REFRESH_S; None
    when no worker answered or the broker has no remote control (the filesystem broker)."""
    if settings.PODIUM_DISPATCH_WINDOW or cache.get(CAPACITY_CACHE_KEY + ":fresh"):
        return None
    cache.set(CAPACITY_CACHE_KEY + ":fresh", True, CAPACITY_REFRESH_S)
    from podium.celery import app

    try:
        inspect = app.control.inspect(timeout=1.0)
        queues = inspect.active_queues() or {}
        stats = inspect.stats() or {}
    except Exception as exc:  # no broadcast on this transport, or the broker is down
        log.info("training capacity not read: %s", exc)
        return None
    capacity = sum(
        min(RELEASED_PER_WORKER, int((stats.get(node) or {}).get("prefetch_count") or 0))
        for node, consumed in queues.items()
        if any(q.get("name") == settings.PODIUM_TRAIN_QUEUE for q in consumed or [])
    )
    if capacity <= 0:
        return None
    cache.set(CAPACITY_CACHE_KEY, capacity, 5 * CAPACITY_REFRESH_S)
    return capacity


# --- releasing ----------------------------------------------------------------------------------


def _dispatch_lock() -> None:
    """Serialise dispatchers until the transaction ends. SQLite's BEGIN IMMEDIATE (podium.env)
    already holds the database's write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _candidate_groups() -> list[Group]:
    rows = (
        Submission.objects.filter(WAITING)
        .values("user_id", "team_id", "competition_id")
        .annotate(waiting=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    return [
        Group(
            entrant=entrant_key(user_id=r["user_id"], team_id=r["team_id"]),
            competition_id=r["competition_id"],
            waiting=r["waiting"],
            oldest=r["oldest"],
        )
        for r in rows
    ]


def _owner_filter(entrants: Iterable[EntrantKey]) -> Q:
    teams = [i for kind, i in entrants if kind == "team"]
    users = [i for kind, i in entrants if kind == "user"]
    return Q(team_id__in=teams) | Q(team__isnull=True, user_id__in=users)


def _standing(groups: list[Group]) -> tuple[dict, dict]:
    """Fill each group's in-flight count and last release; return the same per entrant
    (over every competition)."""
    entrants = {g.entrant for g in groups}
    by_group = {(g.entrant, g.competition_id): g for g in groups}
    in_flight: dict[EntrantKey, int] = {}
    served: dict[EntrantKey, float] = {}
    if not entrants:
        return in_flight, served
    owners = _owner_filter(entrants)
    flying = (
        Submission.objects.filter(IN_FLIGHT)
        .filter(owners)
        .values("user_id", "team_id", "competition_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in flying:
        key = entrant_key(user_id=row["user_id"], team_id=row["team_id"])
        in_flight[key] = in_flight.get(key, 0) + row["n"]
        if (key, row["competition_id"]) in by_group:
            by_group[key, row["competition_id"]].in_flight = row["n"]
    last = (
        Submission.objects.filter(released_at__isnull=False)
        .filter(owners)
        .values("user_id", "team_id", "competition_id")
        .annotate(last=Max("released_at"))
        .order_by()
    )
    for row in last:
        key = entrant_key(user_id=row["user_id"], team_id=row["team_id"])
        when = row["last"].timestamp()
        served[key] = max(served.get(key, when), when)
        if (key, row["competition_id"]) in by_group:
            by_group[key, row["competition_id"]].served = when
    return in_flight, served


def _fair_picks(n: int) -> list[int]:
    """The ids of the next `n` entries in fair order."""
    groups = _candidate_groups()
    if not groups:
        return []
    in_flight, served = _standing(groups)
    picks = fair_order(groups, n, in_flight=in_flight, served=served)
    wanted: dict[tuple[EntrantKey, int], int] = {}
    for group in picks:
        wanted[group.entrant, group.competition_id] = wanted.get((group.entrant, group.competition_id), 0) + 1
    groups_filter = Q()
    for entrant, competition_id in wanted:
        groups_filter |= _owner_filter([entrant]) & Q(competition_id=competition_id)
    # A team's entries are one line whoever of its members made them.
    member_or_alone = Case(
        When(team_id__isnull=False, then=Value(0)), default=F("user_id"), output_field=BigIntegerField()
    )
    rows = (
        Submission.objects.filter(WAITING)
        .filter(groups_filter)
        .annotate(
            nth=Window(
                RowNumber(),
                partition_by=[F("competition_id"), F("team_id"), member_or_alone],
                order_by=[F("created_at").asc(), F("id").asc()],
            )
        )
        .filter(nth__lte=max(wanted.values()))
        .values_list("id", "user_id", "team_id", "competition_id", "created_at")
    )
    entries: dict[tuple[EntrantKey, int], list[int]] = {}
    for pk, user_id, team_id, competition_id, _created in sorted(rows, key=lambda r: (r[4], r[0])):
        entries.setdefault((entrant_key(user_id=user_id, team_id=team_id), competition_id), []).append(pk)
    order = []
    for group in picks:
        queue = entries.get((group.entrant, group.competition_id)) or []
        if queue:
            order.append(queue.pop(0))
    return order


def _fifo_picks(n: int) -> list[int]:
    return list(
        Submission.objects.filter(WAITING).order_by("queued_at", "id").values_list("id", flat=True)[:n]
    )


def submissions_release(*, now: datetime | None = None) -> list[int]:
    """Send the next waiting model entries while the window has room; returns their ids in
    the order sent. Any process may call it at any time; concurrent calls queue up behind
    the dispatch lock and never send an entry twice."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return []
    window = dispatch_window()
    with transaction.atomic():
        _dispatch_lock()
        free = window - Submission.objects.filter(RELEASED).count()
        if free <= 0:
            return []
        order = _fifo_picks(free) if settings.PODIUM_DISPATCH_ORDER == FIFO else _fair_picks(free)
        if not order:
            return []
        # Locked rows are being cancelled or claimed right now: their turn comes next time.
        locked = dict(
            Submission.objects.select_for_update(skip_locked=True)
            .filter(WAITING, pk__in=order)
            .values_list("id", "attempt")
        )
        order = [pk for pk in order if pk in locked]
        sent: list[int] = []
        for pk in order:
            try:
                dispatch.send_train(pk, locked[pk])
            except Exception as exc:  # the broker is down: the entries stay waiting
                log.warning("release of entry %s not sent (%s); it waits for the next release", pk, exc)
                _broker_down_until = time.monotonic() + BROKER_BACKOFF_S
                break
            sent.append(pk)
        if sent:
            Submission.objects.filter(pk__in=sent).update(released_at=now or timezone.now())
    if sent:
        log.info("released %d entr%s: %s", len(sent), "y" if len(sent) == 1 else "ies", sent)
    return sent


def release_on_commit() -> None:
    """Release what the window allows once the current transaction commits (at once outside one)."""
    transaction.on_commit(submissions_release, robust=True)


# --- where an entry stands --------------------------------------------------------------------


@dataclass(frozen=True)
class QueuePlace:
    """`sent`: the entry's message is out, `ahead` entries were released before it and are
    not claimed yet. Waiting: about `ahead` entries go before it (those released and not yet
    claimed, then the waiting ones the order puts first, counted as if none finished)."""

    sent: bool
    ahead: int

    def as_dict(self) -> dict:
        return {"state": "sent" if self.sent else "waiting", "ahead": self.ahead}


def queue_place(*, submission: Submission) -> QueuePlace | None:
    """Where a queued model entry stands; None for any other."""
    if submission.status != Status.QUEUED:
        return None
    if submission.released_at is not None:
        ahead = (
            Submission.objects.filter(RELEASED)
            .filter(
                Q(released_at__lt=submission.released_at)
                | Q(released_at=submission.released_at, pk__lt=submission.pk)
            )
            .count()
        )
        return QueuePlace(sent=True, ahead=ahead)
    released = Submission.objects.filter(RELEASED).count()
    if settings.PODIUM_DISPATCH_ORDER == FIFO:
        older = Q(queued_at__lt=submission.queued_at) | Q(
            queued_at=submission.queued_at, pk__lt=submission.pk
        )
        return QueuePlace(
            sent=False, ahead=released + Submission.objects.filter(WAITING).filter(older).count()
        )
    groups = _candidate_groups()
    in_flight, served = _standing(groups)
    mine = entrant_key(user_id=submission.user_id, team_id=submission.team_id)
    waiting: dict[EntrantKey, int] = {}
    for group in groups:
        waiting[group.entrant] = waiting.get(group.entrant, 0) + group.waiting
    own_earlier = (
        Submission.objects.filter(WAITING)
        .filter(_owner_filter([mine]))
        .filter(
            Q(created_at__lt=submission.created_at)
            | Q(created_at=submission.created_at, pk__lt=submission.pk)
        )
        .count()
    )
    # The entry goes when its entrant's count in flight, with its own earlier ones released,
    # is the lowest; until then every other entrant below that level gets a turn.
    level = in_flight.get(mine, 0) + own_earlier
    mine_served = _served_key(served.get(mine))
    others = 0
    for key, n_waiting in waiting.items():
        if key == mine:
            continue
        wins_tie = _served_key(served.get(key)) < mine_served
        others += min(n_waiting, max(0, level - in_flight.get(key, 0) + (1 if wins_tie else 0)))
    return QueuePlace(sent=False, ahead=released + own_earlier + others)

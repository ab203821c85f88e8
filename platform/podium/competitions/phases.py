"""A phase's effective settings: its own where it sets them, else its competition's.

The one place that turns Phase rows into what the intake, the scorer and the boards
read (docs/leaderboard.md, "Phases"). Pure: it works over rows already loaded, so a
caller decides the queries (the intake loads the phases with the competition).

Windows: a phase's start left empty meets the previous phase's end (the first phase's:
the competition's start); an end left empty meets the next phase's start (the last
phase's: the competition's end, which may be none: a permanent benchmark).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from common.problems import Problem

# Settings a phase inherits from its competition when it leaves them empty.
INHERITED = (
    "daily_limit",
    "total_limit",
    "max_final_picks",
    "accepts_predictions",
    "accepts_configs",
    "budget_epochs",
    "budget_params",
    "budget_seconds",
    "max_variants",
    "lab_daily_epochs",
)

UPCOMING, OPEN, LATE, CLOSED = "upcoming", "open", "late", "closed"


@dataclass(frozen=True)
class PhaseView:
    """One phase as every reader sees it: windows resolved, settings inherited."""

    phase: object  # the Phase row
    competition: object  # the Competition row
    starts_at: dt.datetime
    ends_at: dt.datetime | None  # None: no end (a permanent benchmark)
    daily_limit: int
    total_limit: int | None
    max_final_picks: int
    accepts_predictions: bool
    accepts_configs: bool
    budget_epochs: int
    budget_params: int
    budget_seconds: int
    max_variants: int  # the largest sweep or ensemble an entry may train (1: neither)
    lab_daily_epochs: int  # ablation model-epochs per participant per UTC day (0: ablations off)

    @property
    def pk(self) -> int:
        return self.phase.pk

    @property
    def number(self) -> int:
        return self.phase.number

    @property
    def slug(self) -> str:
        return self.phase.slug

    @property
    def title(self) -> str:
        return self.phase.title

    @property
    def late_entries(self) -> bool:
        return self.phase.late_entries

    is_last: bool  # the last phase's board is the competition's final one

    @property
    def private_revealed_at(self) -> dt.datetime | None:
        """The phase's reveal; the last phase's board is the competition's final one, so the
        competition's reveal (as before phases) reveals it too."""
        own = self.phase.private_revealed_at
        if own is None and self.is_last:
            return self.competition.private_revealed_at
        return own

    @property
    def higher_is_better(self) -> bool:
        return self.competition.higher_is_better

    @property
    def ladder_enabled(self) -> bool:
        return self.competition.ladder_enabled

    @property
    def ladder_step(self) -> float:
        return self.competition.ladder_step

    @property
    def extra_metrics(self) -> list[str]:
        """The competition's other metrics (board columns): the same in every phase."""
        return list(self.competition.extra_metrics or ())

    @property
    def key_holder(self):
        """The row whose answer key scores this phase: the phase's own, else the competition's."""
        return self.phase if self.phase.answer_key_sha256 else self.competition

    @property
    def dataset(self):
        return self.phase.dataset if self.phase.answer_key_sha256 else self.competition.dataset

    @property
    def public_fraction(self) -> float:
        return (
            self.phase.public_fraction if self.phase.answer_key_sha256 else self.competition.public_fraction
        )

    def status(self, now: dt.datetime) -> str:
        if now < self.starts_at:
            return UPCOMING
        if self.ends_at is None or now < self.ends_at:
            return OPEN
        return LATE if self.late_entries else CLOSED

    def is_over(self, now: dt.datetime) -> bool:
        return self.ends_at is not None and now >= self.ends_at


def _resolved(value, fallback):
    return fallback if value is None else value


def windows(competition, phases) -> list[tuple[dt.datetime | None, dt.datetime | None]]:
    """The effective (start, end) of each phase, in order; a bound that cannot be resolved is None."""
    ordered = sorted(phases, key=lambda p: p.number)
    result = []
    for i, phase in enumerate(ordered):
        previous_end = result[-1][1] if result else competition.starts_at
        start = _resolved(phase.starts_at, previous_end)
        if phase.ends_at is not None:
            end = phase.ends_at
        elif i + 1 < len(ordered):
            end = ordered[i + 1].starts_at
        else:
            end = competition.ends_at
        result.append((start, end))
    return result


def phase_views(competition, phases) -> list[PhaseView]:
    ordered = sorted(phases, key=lambda p: p.number)
    views = []
    for phase, (start, end) in zip(ordered, windows(competition, ordered), strict=True):
        settings = {name: _resolved(getattr(phase, name), getattr(competition, name)) for name in INHERITED}
        views.append(
            PhaseView(
                phase=phase,
                competition=competition,
                starts_at=start,
                ends_at=end,
                is_last=phase is ordered[-1],
                **settings,
            )
        )
    return views


def current_view(views: list[PhaseView], now: dt.datetime) -> PhaseView:
    """The phase a participant means when they name none: the open one; else the latest
    that has started (its late board, its final board); else the first."""
    started = [v for v in views if v.starts_at <= now]
    for view in started:
        if view.status(now) == OPEN:
            return view
    return started[-1] if started else views[0]


def window_problems(competition, phases) -> list[Problem]:
    """Why these phases' windows cannot stand, each problem naming the phase and the field:
    an inverted window, two phases that overlap, a bound no neighbour resolves, a window
    outside the competition's."""
    ordered = sorted(phases, key=lambda p: p.number)
    problems: list[Problem] = []
    for i, ((start, end), phase) in enumerate(zip(windows(competition, ordered), ordered, strict=True)):
        where = f"phase {phase.number} ('{phase.slug}')"
        last = i + 1 == len(ordered)
        if end is None and not last:
            problems.append(
                Problem(
                    path=f"phases[{i}].ends_at",
                    message=f"{where} needs an end, or the next phase a start: only the last phase may have no end.",
                )
            )
        if start is not None and end is not None and end <= start:
            problems.append(
                Problem(
                    path=f"phases[{i}].ends_at",
                    message=f"{where} ends at {_fmt(end)}, not after it starts ({_fmt(start)}).",
                )
            )
        if i > 0:
            previous_end = windows(competition, ordered)[i - 1][1]
            if previous_end is not None and start is not None and start < previous_end:
                problems.append(
                    Problem(
                        path=f"phases[{i}].starts_at",
                        message=f"{where} starts at {_fmt(start)}, before phase {ordered[i - 1].number} "
                        f"('{ordered[i - 1].slug}') ends ({_fmt(previous_end)}): phases must not overlap.",
                    )
                )
        if start is not None and start < competition.starts_at:
            problems.append(
                Problem(
                    path=f"phases[{i}].starts_at",
                    message=f"{where} starts at {_fmt(start)}, before the competition opens "
                    f"({_fmt(competition.starts_at)}).",
                )
            )
        if competition.ends_at is not None and (
            end is None and last or end is not None and end > competition.ends_at
        ):
            problems.append(
                Problem(
                    path=f"phases[{i}].ends_at",
                    message=f"{where} ends at {_fmt(end) if end else 'no time (no end)'}, after the competition "
                    f"closes ({_fmt(competition.ends_at)}).",
                )
            )
    return problems


def _fmt(value: dt.datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"

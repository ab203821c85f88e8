from __future__ import annotations

from django.utils import timezone

from podium.competitions.selectors import (
    competition_can_manage,
    competition_get,
    competition_phase,
    competition_phases,
    participation_exists,
)
from podium.web.templatetags.podium_web import phase

TABS = [
    ("overview", "Overview", "web:competition"),
    ("data", "Data", "web:competition_data"),
    ("leaderboard", "Leaderboard", "web:leaderboard"),
    ("rules", "Rules", "web:competition_rules"),
    ("submit", "Submit", "web:submit"),
    ("mine", "My submissions", "web:my_submissions"),
]
HOST_TAB = ("host", "Host", "web:host_dashboard")


def competition_context(request, slug: str, tab: str) -> dict:
    """The competition (Http404 unless the visitor may see it) and what every tab shows of it."""
    competition = competition_get(slug=slug, user=request.user)
    now = timezone.now()
    current = competition_phase(competition=competition, now=now)
    # The hosts' tab is shown to those who manage the competition (its hosts and staff) alone.
    can_manage = request.user.is_authenticated and competition_can_manage(
        competition=competition, user=request.user
    )
    return {
        "competition": competition,
        # Every phase with its state (upcoming, open, late, closed); the current one is where
        # entries go and which board a visitor sees first.
        "phases": [
            {"view": v, "status": v.status(now), "current": v.pk == current.pk}
            for v in competition_phases(competition)
        ],
        "current_phase": current,
        "current_status": current.status(now),
        "tab": tab,
        "tabs": [*TABS, HOST_TAB] if can_manage else TABS,
        "can_manage": can_manage,
        "phase": phase(competition),
        "is_participant": is_participant(competition, request.user),
        "nav": "competitions",
    }


def is_participant(competition, user) -> bool:
    # competition_get annotates has_joined; a competition from elsewhere is asked directly.
    joined = getattr(competition, "has_joined", None)
    if joined is not None:
        return bool(joined)
    return participation_exists(competition=competition, user=user)

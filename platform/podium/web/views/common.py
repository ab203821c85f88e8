from __future__ import annotations

from django.utils import timezone

from podium.competitions.selectors import (
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


def competition_context(request, slug: str, tab: str) -> dict:
    """The competition (Http404 unless the visitor may see it) and what every tab shows of it."""
    competition = competition_get(slug=slug, user=request.user)
    now = timezone.now()
    current = competition_phase(competition=competition, now=now)
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
        "tabs": TABS,
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

from __future__ import annotations

from django.shortcuts import render

from podium.web import sources
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
    competition = sources.competition_for(slug, request.user)
    return {
        "competition": competition,
        "tab": tab,
        "tabs": TABS,
        "phase": phase(competition),
        "is_participant": sources.is_participant(competition, request.user),
        "nav": "competitions",
    }


def missing(request, template: str, ctx: dict, exc) -> object:
    ctx["missing"] = exc.what
    return render(request, template, ctx)

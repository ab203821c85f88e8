"""The Leaderboard tab: public board, and the private board with the shake-up once revealed."""

from __future__ import annotations

from django.shortcuts import render

from podium.web import deps, sources
from podium.web.views.common import competition_context


def leaderboard(request, slug):
    ctx = competition_context(request, slug, "leaderboard")
    competition = ctx["competition"]
    which = "private" if request.GET.get("board") == "private" else "public"
    try:
        private_ok = sources.private_scores_visible(competition, request.user)
        ctx["private_visible"] = private_ok
        if which == "private" and not private_ok:
            ctx["private_hidden"] = True
            which = "public"
        ctx["rows"] = sources.board(competition, request.user, which)
    except deps.Missing as exc:
        ctx["missing"] = exc.what
        ctx["rows"] = []
    ctx["which"] = which
    ctx["me"] = request.user.pk if request.user.is_authenticated else None
    return render(request, "web/competition/leaderboard.html", ctx)

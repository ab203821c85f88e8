"""The Leaderboard tab: public board, and the private board with the shake-up once revealed."""

from __future__ import annotations

from django.shortcuts import render

from datasets.metrics import METRICS
from podium.errors import page_message
from podium.leaderboards.selectors import board_page
from podium.params import InvalidParameter, query_int
from podium.submissions.selectors import private_scores_visible
from podium.web.views.common import competition_context


def _title(name: str) -> str:
    metric = METRICS.get(name)
    return metric.title if metric is not None else name


def leaderboard(request, slug):
    ctx = competition_context(request, slug, "leaderboard")
    competition = ctx["competition"]
    which = "private" if request.GET.get("board") == "private" else "public"
    status = 200
    try:
        page = query_int(request.GET, "page", default=1)
    except InvalidParameter as exc:
        # The board's first page, with the reason the page asked for is not shown.
        page_message(request, exc)
        page, status = 1, 400
    ctx["private_visible"] = private_scores_visible(competition=competition, user=request.user)
    if which == "private" and not ctx["private_visible"]:
        # Asking for a hidden board shows the public one and says why; the selector would refuse too.
        ctx["private_hidden"] = True
        which = "public"
    board = board_page(competition=competition, board=which, page=page, user=request.user)
    on_page = {r.id for r in board.rows}
    for row in [*board.rows, *([board.mine] if board.mine else [])]:
        row.extra_cells = row.extra_values(board.extra_metrics)
    ctx.update(
        which=which,
        board=board,
        rows=board.rows,
        mine_off_page=board.mine if board.mine is not None and board.mine.id not in on_page else None,
        score_title=_title(competition.metric),
        extra_titles=[_title(name) for name in board.extra_metrics],
        board_columns=6 + len(board.extra_metrics) + (1 if which == "private" else 0),
    )
    return render(request, "web/competition/leaderboard.html", ctx, status=status)

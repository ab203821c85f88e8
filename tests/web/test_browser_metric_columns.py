"""The board page in a real browser: a competition's other metrics as columns, public ones
while it runs, private ones on the private board after the reveal; the rules say so."""

from __future__ import annotations

import pytest

from tests.factories.competitions import make_competition
from tests.factories.leaderboards import make_entry
from tests.web.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXTRA = ["macro_f1", "matthews_corrcoef", "balanced_accuracy"]


def _extras(base: float) -> dict:
    return {
        name: {"public": round(base - 0.01 * (i + 1), 4), "private": round(base - 0.02 * (i + 1), 4)}
        for i, name in enumerate(EXTRA)
    }


def test_the_board_shows_the_other_metrics_as_columns(browser, live_server, alice, bob):
    comp = make_competition("iris-columns-page", metric="accuracy", extra_metrics=EXTRA)
    make_entry(comp, alice, 0.9, 0.8, extra_scores=_extras(0.9))
    make_entry(comp, bob, 0.7, 0.75, extra_scores=_extras(0.7))

    page = browser.new_page()
    page.goto(f"/c/{comp.slug}/leaderboard/")
    board = page.get_by_test_id("board-public")
    headers = [t.strip() for t in board.locator("thead th").all_text_contents()]
    assert headers[2:6] == ["Accuracy", "Macro F1", "Matthews correlation", "Balanced accuracy"]
    first = board.locator("tbody tr").first.locator("td").all_inner_texts()
    assert [cell.strip() for cell in first[3:6]] == ["0.89000", "0.88000", "0.87000"]
    shot(page, "leaderboard-metric-columns")

    page.goto(f"/c/{comp.slug}/rules/")
    assert page.get_by_test_id("rules-metric").inner_text() == (
        "Accuracy (higher is better); also shown: Macro F1, Matthews correlation, Balanced accuracy"
    )

    from podium.leaderboards.services import board_reveal

    board_reveal(competition=comp, close=True)
    page.goto(f"/c/{comp.slug}/leaderboard/?board=private")
    private = page.get_by_test_id("board-private")
    rows = private.locator("tbody tr")
    assert rows.count() == 2
    cells = rows.first.locator("td").all_inner_texts()
    # rank, move, participant, the private score, then the other metrics' private scores
    assert [cell.strip() for cell in cells[4:7]] == ["0.88000", "0.86000", "0.84000"]

"""The submission page, compare, and what others and anonymous visitors cannot see."""

from __future__ import annotations

import pytest

from tests.web.conftest import login, shot, wait_until
from tests.web.entries import config_entry, record_epoch, scored_predictions_entry
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _join(comp, *users):
    from podium.competitions.services import competition_join

    for user in users:
        competition_join(competition=comp, user=user)


def _chart(page, name, expr):
    return page.evaluate(f"Chart.getChart(document.querySelector(\"canvas[data-chart='{name}']\")).{expr}")


def test_submission_page_charts_and_compare(browser, live_server, alice, bob):
    comp = competition()
    _join(comp, alice, bob)
    a = config_entry(comp, alice, lr="0.01", epochs=2)
    b = config_entry(comp, alice, lr="0.05", loss0=2.0)

    page = browser.new_page()
    login(page, "alice")
    page.goto(f"/submissions/{a.pk}/")
    wait_until(
        page, "typeof Chart !== 'undefined' && document.querySelector('canvas[data-chart]').dataset.ready"
    )
    assert _chart(page, "chart-loss", "data.datasets.length") == 2  # train and validation
    assert _chart(page, "chart-loss", "data.labels") == [1, 2]
    # The worker reports another epoch: the open page follows without a manual reload.
    record_epoch(a, 3)
    wait_until(
        page,
        "window.Chart && Chart.getChart(document.querySelector(\"canvas[data-chart='chart-loss']\"))"
        "?.data.labels.length === 3",
        timeout=10_000,
    )
    assert page.get_by_test_id("detail-progress").inner_text() == "epoch 3 / 3"
    assert _chart(page, "chart-grad", "options.scales.y.type") == "logarithmic"
    assert _chart(page, "chart-grad", "data.datasets.length") == 2  # one line per layer
    assert "lr: 0.01" in page.get_by_test_id("config").inner_text()
    assert page.get_by_text("Running").first.is_visible()
    shot(page, "submission-running")

    page.get_by_role("link", name="Compare…").click()
    page.get_by_label("Entry B").select_option(str(b.pk))
    page.get_by_role("button", name="Compare").click()
    wait_until(
        page, "typeof Chart !== 'undefined' && document.querySelector('canvas[data-chart]').dataset.ready"
    )
    assert _chart(page, "cmp-loss", "data.datasets.length") == 4  # two entries × train/val
    diff = page.get_by_test_id("diff")
    assert "-  optimizer: {name: adam, lr: 0.01}" in diff.inner_text()
    assert "+  optimizer: {name: adam, lr: 0.05}" in diff.inner_text()
    shot(page, "compare")

    # Cancel from My submissions: the entry leaves the queue.
    page.goto("/c/iris-cup/submissions/")
    assert (
        page.locator(f"tr[data-submission='{a.pk}']").get_by_test_id("progress").inner_text() == "epoch 3 / 3"
    )
    shot(page, "my-submissions-running")
    # It asks first: declined, nothing changes; accepted, the entry is cancelled.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator(f"tr[data-submission='{a.pk}']").get_by_role("button", name="Cancel").click()
    assert asked and asked[0].startswith(f"Cancel submission #{a.pk}?")
    assert page.locator(f"tr[data-submission='{a.pk}']").get_by_test_id("status").inner_text() == "Running"
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-submission='{a.pk}']").get_by_role("button", name="Cancel").click()
    assert page.locator(f"tr[data-submission='{a.pk}']").get_by_test_id("status").inner_text() == "Cancelled"

    # Another participant never reaches alice's entries (their configs included).
    page.get_by_role("button", name="Log out").click()
    login(page, "bob")
    assert page.request.get(f"{live_server.url}/submissions/{b.pk}/").status == 404
    assert page.request.get(f"{live_server.url}/c/iris-cup/compare/?a={a.pk}&b={b.pk}").status == 404
    assert page.request.get(f"{live_server.url}/submissions/{b.pk}/predictions/").status == 404


def test_anonymous_visitor_cannot_reach_private_scores(browser, live_server, alice, bob):
    comp = competition()
    _join(comp, alice, bob)
    good = scored_predictions_entry(comp, alice, label=comp.dataset.manifest["classes"][0])
    scored_predictions_entry(comp, bob, label=comp.dataset.manifest["classes"][1])
    private = f"{good.private_score:.5f}"

    page = browser.new_page()
    page.goto("/c/iris-cup/leaderboard/")
    board = page.get_by_test_id("board-public")
    assert board.locator("tbody tr").count() == 2
    assert f"{good.public_score:.5f}" in board.inner_text()
    assert page.locator("[aria-disabled=true]", has_text="Private").is_visible()
    shot(page, "leaderboard-public")

    page.goto("/c/iris-cup/leaderboard/?board=private")
    assert page.get_by_text("revealed after the deadline").is_visible()
    assert page.get_by_test_id("board-private").count() == 0
    assert private not in page.content() or private == f"{good.public_score:.5f}"
    assert page.request.get(f"{live_server.url}/submissions/{good.pk}/").status == 404

    # Alice sees her own entry, but its private score stays hidden until the reveal.
    login(page, "alice")
    page.goto(f"/submissions/{good.pk}/")
    assert "hidden until the deadline" in page.get_by_test_id("private-score").inner_text()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download predictions").click()
    assert info.value.suggested_filename == f"submission-{good.pk}.csv"
    page.goto("/c/iris-cup/leaderboard/")
    assert "alice" in page.get_by_test_id("my-row").inner_text()
    page.get_by_role("button", name="Log out").click()

    from podium.leaderboards.services import board_reveal

    board_reveal(competition=comp, close=True)  # before the deadline: the reveal closes it
    page.goto("/c/iris-cup/leaderboard/?board=private")
    assert page.get_by_test_id("board-private").locator("tbody tr").count() == 2
    shot(page, "leaderboard-private")

"""A new participant, end to end in a real browser against the real pipeline: sign up,
join, download, write a config (an error first, then the fix), watch it train and be
scored live, open the curves, find their row on the board."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import Browser, shot, sign_up_and_join, wait_until
from tests.web.factories import competition
from tests.web.pipeline import podium_platform  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BAD_CONFIG = """version: 1
seed: 0
model:
  init: he_normal
  layers:
    - linear: {units: 16}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 999
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""


@pytest.fixture
def web(playwright_driver, podium_platform):  # noqa: F811
    b = Browser(playwright_driver, podium_platform.url)
    yield b
    b.close()


def test_new_participant_submits_a_config_and_watches_it_scored(web, podium_platform, tmp_path):  # noqa: F811
    competition(budget_epochs=3)
    page = web.new_page()

    sign_up_and_join(page, podium_platform.url, "newbie", "iris-cup")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download train.csv").click()
    info.value.save_as(tmp_path / "train.csv")
    assert (tmp_path / "train.csv").read_text().startswith("id,")

    # The editor validates as one types: 999 epochs is over the budget, at line 10.
    page.get_by_role("navigation", name="Competition sections").get_by_role("link", name="Submit").click()
    page.wait_for_url("**/submit/")
    page.wait_for_load_state()
    editor = page.get_by_label("Model config (YAML or JSON)")
    # A template from examples/ fills the editor; the catalog beside it lists the techniques.
    page.get_by_label("Start from a template").select_option("breast_cancer_mlp")
    assert "linear: {units: 64}" in editor.input_value()
    assert page.locator(".catalog summary", has_text="batchnorm").count() == 1
    editor.fill(BAD_CONFIG)
    validation = page.get_by_test_id("validation")
    validation.get_by_text("line 10").wait_for()
    assert page.locator(".gutter .err").first.inner_text() == "10"
    shot(page, "submit-editor-error")

    editor.fill(BAD_CONFIG.replace("epochs: 999", "epochs: 3"))
    page.get_by_text("Valid config for this competition").wait_for()
    shot(page, "submit-editor-valid")
    page.get_by_role("button", name="Submit config").click()
    page.wait_for_url("**/submissions/")

    # The status changes in place (htmx polling), without a reload, until it is scored.
    page.evaluate("window.__notReloaded = true")
    status = page.get_by_test_id("my-rows").locator("tr").first.get_by_test_id("status")
    seen = set()
    for _ in range(600):
        seen.add(status.inner_text().strip())
        if "Scored" in seen or "Failed" in seen:
            break
        page.wait_for_timeout(100)
    assert "Scored" in seen, f"statuses seen: {seen}\n{podium_platform.logs()}"
    assert seen & {"Queued", "Running", "Scoring"}, seen
    assert page.evaluate("window.__notReloaded") is True
    shot(page, "my-submissions")
    # The scored entry becomes a final pick for the private board.
    page.get_by_role("button", name="Pick").click()
    assert page.get_by_role("button", name="Final").get_attribute("aria-pressed") == "true"

    page.get_by_test_id("my-rows").get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    page.wait_for_selector("canvas[data-chart='chart-loss']")
    # chart.umd.js is deferred: until it has run, `Chart` is not defined.
    wait_until(
        page,
        "window.Chart !== undefined"
        " && Chart.getChart(document.querySelector(\"canvas[data-chart='chart-grad']\")) !== undefined",
    )
    n_points = page.evaluate(
        "Chart.getChart(document.querySelector(\"canvas[data-chart='chart-loss']\")).data.labels.length"
    )
    assert n_points >= 1
    assert (
        page.evaluate(
            "Chart.getChart(document.querySelector(\"canvas[data-chart='chart-grad']\")).options.scales.y.type"
        )
        == "logarithmic"
    )
    assert page.get_by_test_id("public-score").inner_text().strip() != "—"
    assert "hidden until the deadline" in page.get_by_test_id("private-score").inner_text()
    shot(page, "submission")

    page.get_by_role("navigation", name="Competition sections").get_by_role(
        "link", name="Leaderboard"
    ).click()
    mine = page.get_by_test_id("my-row")
    assert "newbie" in mine.inner_text()
    shot(page, "leaderboard")

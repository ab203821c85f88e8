"""The digits CNN example ablated from the website, end to end, in a real browser against the
real pipeline (gunicorn, the scorer and the trainer: tests/web/pipeline.py) on the embedded
defaults: the digits competition as the demo makes it (its budget), the platform's default
daily lab quota and held-out fraction, the example config as the Submit page offers it. The
participant submits it, watches it scored, ablates it, and the table and the curves appear."""

from __future__ import annotations

import re

import pytest

from podium.competitions.management.commands.seed_demo import BUDGETS
from tests.factories.competitions import make_competition
from tests.web.conftest import Browser, shot, sign_up_and_join, wait_until
from tests.web.pipeline import podium_platform  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VARIANTS = ("activation:sigmoid", "dropout:off")


@pytest.fixture
def web(playwright_driver, podium_platform):  # noqa: F811
    b = Browser(playwright_driver, podium_platform.url)
    yield b
    b.close()


def _chart(page, name, expr):
    return page.evaluate(f"Chart.getChart(document.querySelector(\"canvas[data-chart='{name}']\")).{expr}")


def test_the_digits_cnn_example_is_ablated_from_the_website(web, podium_platform):  # noqa: F811
    from podium.lab.models import LabRun
    from podium.submissions.models import Submission

    make_competition("digits", dataset="digits", title="Digits", **BUDGETS["digits"])
    page = web.new_page()
    sign_up_and_join(page, podium_platform.url, "ablator", "digits")

    # The example config as the Submit page offers it, submitted and scored by the workers.
    page.goto("/c/digits/submit/?kind=config")
    page.get_by_label("Start from a template").select_option("digits_cnn")
    page.get_by_text("Valid config for this competition").wait_for()
    page.get_by_role("button", name="Submit config").click()
    page.wait_for_url("**/submissions/")
    status = page.get_by_test_id("my-rows").locator("tr").first.get_by_test_id("status")
    status.get_by_text(re.compile("Scored|Failed")).wait_for(timeout=300_000)
    entry = Submission.objects.get()
    assert entry.status == "scored", f"{entry.error_message}\n{podium_platform.logs()}"

    page.goto(f"/submissions/{entry.pk}/")
    page.get_by_role("link", name="Ablate…").click()
    page.wait_for_url("**/ablate/")
    # The defaults: 1,200 model-epochs a day, each run charged the budget's 40.
    assert "enough for the original and 29 variants" in page.get_by_test_id("quota-left").inner_text()
    for key in VARIANTS:
        page.locator(f"input[name=variants][value='{key}']").check()
    page.get_by_role("button", name="Start the ablation").click()
    page.wait_for_url("**/ablations/*/")

    # The page follows the runs (htmx polls, reloads as each one moves on) until every one is done.
    page.get_by_test_id("ablation-status").get_by_text(re.compile("Done|Failed")).wait_for(timeout=600_000)
    runs = {r.key: r for r in LabRun.objects.all()}
    assert set(runs) == {"baseline", *VARIANTS}
    assert all(r.status == "done" for r in runs.values()), (
        [(r.key, r.status, r.error_message) for r in runs.values()],
        podium_platform.logs(),
    )
    assert page.get_by_test_id("ablation-status").inner_text() == "Done"

    # The table: a score with its interval per run, each variant's paired difference.
    rows = page.get_by_test_id("ablation-row")
    assert rows.count() == 3
    original = page.locator("[data-testid=ablation-row][data-variant=baseline]")
    assert "the original" in original.get_by_test_id("diff").inner_text()
    for key in VARIANTS:
        row = page.locator(f"[data-testid=ablation-row][data-variant='{key}']")
        run = runs[key]
        assert row.get_by_test_id("score").inner_text().startswith(f"{run.score:.4f} [")
        assert row.get_by_test_id("diff").inner_text().startswith(f"{run.diff:+.4f} [")
        assert row.get_by_test_id("beyond-noise").inner_text() in (
            "yes, better",
            "yes, worse",
            "within noise",
        )
    assert runs["baseline"].score > 0.8, runs["baseline"].score  # a CNN learns the digits

    # The curves: loss per run, and gradient flow through the CNN's layers, input side first.
    wait_until(
        page,
        "typeof Chart !== 'undefined'"
        " && Chart.getChart(document.querySelector(\"canvas[data-chart='ablation-flow']\")) !== undefined",
    )
    assert _chart(page, "ablation-loss", "data.labels.length") == 30  # the example's 30 epochs
    assert _chart(page, "ablation-flow", "data.labels") == ["conv2d 1", "conv2d 2", "linear 1", "linear 2"]
    assert _chart(page, "ablation-flow", "data.datasets.map(d => d.label)") == ["original", *VARIANTS]
    assert _chart(page, "ablation-ratio", "data.datasets.length") == 3
    shot(page, "ablation-digits-cnn")

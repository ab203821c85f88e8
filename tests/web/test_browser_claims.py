"""The claims pages in Chromium: the index links each claim and its verdict; a measured claim's
page draws its charts and fits a phone (the results table scrolls inside its frame)."""

from __future__ import annotations

import pytest

from tests.factories.lab import make_claim_result
from tests.web.conftest import _WIDE, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [375, 1280])
def test_a_measured_claim_draws_its_charts_and_fits_the_screen(page, width):
    make_claim_result("vanishing-gradients")
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/claims/")
    row = page.locator('[data-testid="claim-row"][data-claim="vanishing-gradients"]')
    assert row.get_by_test_id("verdict").inner_text() == "Reproduces"
    assert (
        page.locator('[data-testid="claim-row"][data-claim="batchnorm"]')
        .get_by_test_id("verdict")
        .inner_text()
        == "Not measured yet"
    )
    if width < 700:
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Claims").click()
    page.wait_for_url("**/claims/")
    row.get_by_role("link").click()
    page.wait_for_url("**/claims/vanishing-gradients/")

    assert page.get_by_test_id("arm-row").count() == 3
    assert "梯度消失" in page.get_by_test_id("quote").first.inner_text()
    # Chart.js has drawn every chart the study plots: a canvas it sized and marked ready.
    for name in ("claim-loss", "claim-metric", "claim-gradients"):
        canvas = page.locator(f'canvas[data-chart="{name}"]')
        assert canvas.get_attribute("data-ready") == "1", name
        assert canvas.bounding_box()["width"] > 100, name
    assert page.locator('canvas[data-chart="claim-cost"]').count() == 0  # not one of this study's plots
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px: {page.evaluate(_WIDE)}"
    shot(page, f"claim-{width}")

"""The public status page in Chromium: it renders the figures, links the JSON, fits a phone."""

from __future__ import annotations

import pytest

from tests.web.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [375, 1280])
def test_the_status_page_shows_queues_and_fits_the_screen(page, settings, width, redis_url):
    from django.core.cache import cache

    from podium.status.selectors import STATUS_CACHE_KEY

    settings.PODIUM_VERSION = "v-browser"
    cache.delete(STATUS_CACHE_KEY)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/status/")
    assert page.get_by_test_id("status-version").inner_text() == "v-browser"
    rows = page.get_by_test_id("status-queues").locator("tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == [
        "scoring",
        "gpu",
        "cpu",
        "maintenance",
    ]
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
    page.get_by_role("link", name="Status", exact=True).click()  # the footer's link leads here
    page.wait_for_url("**/status/")
    shot(page, f"status-{width}")
    cache.delete(STATUS_CACHE_KEY)

"""The site's 404 page in a real browser, with DEBUG off (as the live server runs)."""

from __future__ import annotations

import pytest

from tests.web.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_unknown_address_shows_the_sites_404_page(browser, settings):
    settings.DEBUG = False
    page = browser.new_page()
    response = page.goto("/no/such/page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert "There is no page at this address." in page.get_by_test_id("error-detail").inner_text()
    assert "URLconf" not in page.content()
    # The site's own header and style: the way back to the competitions works.
    page.get_by_role("link", name="All competitions").click()
    page.wait_for_url("**/")
    assert page.get_by_role("link", name="Competitions").is_visible()
    # The document's own 404 is the one console line expected here.
    browser.errors[:] = [e for e in browser.errors if "status of 404" not in e]
    shot(page, "error-404")

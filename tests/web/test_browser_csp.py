"""Every page of the site in Chromium under the Content-Security-Policy, as the persona who
sees it, with its live parts working: the browser fixture fails the test on any CSP
violation or console error."""

from __future__ import annotations

import pytest

from tests.web.conftest import login
from tests.web.site_pages import build_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Resolves at the next htmx swap's settle: content that htmx polls in is held to the policy too.
_NEXT_SWAP = """() => new Promise((resolve, reject) => {
    document.body.addEventListener("htmx:afterSettle", () => resolve(true), {once: true});
    setTimeout(() => reject(new Error("no htmx swap within 10 s")), 10000);
})"""


def _live_validation(page):
    editor = page.get_by_label("Model config (YAML or JSON)")
    editor.fill("version: 1\nseed: 0\nmodel: 3\n")
    page.get_by_test_id("validation").locator("li").first.wait_for()
    assert page.locator(".gutter .err").count() >= 1
    page.get_by_label("Start from a template").select_option(index=1)
    assert "version: 1" in editor.input_value()


def _api_docs(page):
    page.locator(".swagger-ui .opblock-summary").first.click()
    page.locator(".swagger-ui .opblock-body").first.wait_for()


def _source_switch(page):
    upload, builtin = page.locator("[data-source~=upload]"), page.locator("[data-source~=builtin]")
    assert upload.is_visible() and not builtin.is_visible()
    page.locator("[data-source-switch] input[value=builtin]").check()
    assert builtin.is_visible() and not upload.is_visible()


# What a page does beyond rendering, by its path.
EXERCISES = {
    "/c/iris-cup/submit/?kind=config": _live_validation,
    "/api/docs/": _api_docs,
    "/staff/competitions/new/": _source_switch,
}


def test_every_page_works_under_the_csp(browser, alice, bob, admin_user):
    page = browser.new_page()
    persona = None
    for site_page in build_site(alice=alice, bob=bob, admin_user=admin_user):
        if site_page.persona != persona:
            browser.context.clear_cookies()
            if site_page.persona:
                login(page, site_page.persona)
            persona = site_page.persona
        response = page.goto(site_page.path)
        assert response.ok, f"{site_page}: {response.status}"
        assert "content-security-policy" in response.headers, site_page
        page.locator(site_page.ready).first.wait_for(state="visible")
        if site_page.path in EXERCISES:
            EXERCISES[site_page.path](page)
        if page.locator("[hx-trigger^=every]").count():
            # A polling page (a running entry's rows or status): what it swaps in is held too.
            assert page.evaluate(_NEXT_SWAP) is True, site_page

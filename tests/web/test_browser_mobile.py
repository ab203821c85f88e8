"""Every page on a phone (375 px) and a desktop (1280 px): nothing wider than the window,
a menu that reaches every link of the header, section tabs that are plain links (Tab
reaches each) and show that they scroll, tables that scroll inside their card; and an
axe-core scan of each page that finds no serious or critical violation.

axe-core comes from npm (a development dependency of platform/podium/web/package.json,
copied into static/vendor by the vendor step) and is injected as a script file, so the
pages' Content-Security-Policy holds while it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import login, shot
from tests.web.site_pages import build_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
AXE = Path(__file__).resolve().parents[2] / "platform/podium/web/static/vendor/axe.min.js"

# Run inside the page (a function: the policy has no 'unsafe-eval'). The page's own markup is
# scanned; the serious and critical findings come back with the elements they name.
_AXE_RUN = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations
        .filter(v => v.impact === "serious" || v.impact === "critical")
        .map(v => [v.id, `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`]);
}"""


# Findings in markup the site does not write, each with why it stays: the scan reports any other.
THIRD_PARTY = {
    # Swagger UI (drf-spectacular's sidecar) nests the operation's copy button inside the
    # summary's button; fixing it means patching Swagger UI's React components.
    ("/api/docs/", "nested-interactive"),
    # Django's SelectFilter2.js (filter_horizontal) puts aria-label on a plain <span>.
    ("/admin/", "aria-prohibited-attr"),
}


def _third_party(path: str, rule: str) -> bool:
    return any(path.startswith(prefix) and rule == known for prefix, known in THIRD_PARTY)


def _axe_violations(page) -> list[str]:
    if not AXE.exists():
        from tests.conftest import need_service

        need_service(f"axe-core at {AXE} (make assets installs it)")
    page.add_script_tag(url="/static/vendor/axe.min.js")
    return page.evaluate(_AXE_RUN)


def _visit_every_page(browser, pages, check):
    page = browser.new_page()
    persona = None
    for site_page in pages:
        if site_page.persona != persona:
            browser.context.clear_cookies()
            if site_page.persona:
                page.set_viewport_size(DESKTOP)
                login(page, site_page.persona)
            persona = site_page.persona
        for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            response = page.goto(site_page.path)
            assert response.ok, f"{site_page}: {response.status}"
            page.locator(site_page.ready).first.wait_for(state="attached")
            check(page, site_page, name)


def test_every_page_fits_a_phone_and_a_desktop(browser, alice, bob, admin_user):
    pages = build_site(alice=alice, bob=bob, admin_user=admin_user)

    def fits(page, site_page, size):
        slug = site_page.path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "home"
        shot(page, f"{size}-{site_page.persona or 'anonymous'}-{slug}"[:120])

    _visit_every_page(browser, pages, fits)


def test_axe_finds_no_serious_violation_on_any_page(browser, alice, bob, admin_user):
    pages = build_site(alice=alice, bob=bob, admin_user=admin_user)
    found: list[str] = []

    def scan(page, site_page, size):
        who = site_page.persona or "anonymous"
        found.extend(
            f"{who} {site_page.path} ({size}): {text}"
            for rule, text in _axe_violations(page)
            if not _third_party(site_page.path, rule)
        )

    _visit_every_page(browser, pages, scan)
    # axe measures contrast by adding a <style> of its own, which the pages' policy refuses
    # (rightly); those refusals are the scanner's, not the site's.
    browser.errors[:] = [e for e in browser.errors if "vendor/axe.min.js" not in e]
    assert found == [], "axe-core found:\n" + "\n".join(found)


def test_the_phone_menu_reaches_competitions_and_the_api(page, alice):
    from tests.web.factories import competition

    competition()
    page.set_viewport_size(PHONE)
    page.goto("/c/iris-cup/")
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    assert menu.is_visible() and menu.get_attribute("aria-expanded") == "false"
    assert not nav.get_by_role("link", name="Competitions").is_visible()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    assert nav.get_by_role("link", name="Competitions").is_visible()
    assert nav.get_by_role("link", name="API").is_visible()
    assert page.get_by_role("link", name="Log in").is_visible()
    # Escape closes it and gives focus back to the button.
    page.keyboard.press("Escape")
    assert menu.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.textContent.trim()") == "Menu"
    nav.get_by_role("link", name="API").wait_for(state="hidden")
    shot(page, "phone-menu-closed")
    menu.click()
    nav.get_by_role("link", name="Competitions").click()
    page.wait_for_url("**/")
    # On a desktop the links are in the header and there is no menu button.
    page.set_viewport_size(DESKTOP)
    assert not page.get_by_role("button", name="Menu").is_visible()
    assert nav.get_by_role("link", name="API").is_visible()


def test_section_tabs_are_links_that_tab_reaches_and_show_they_scroll(page, alice):
    from podium.competitions.services import competition_join
    from tests.web.factories import competition

    comp = competition()
    competition_join(competition=comp, user=alice)
    login(page, "alice")
    page.set_viewport_size(PHONE)
    page.goto("/c/iris-cup/leaderboard/")
    sections = page.get_by_role("navigation", name="Competition sections")
    assert page.get_by_role("tab").count() == 0 and page.get_by_role("tablist").count() == 0
    links = sections.get_by_role("link")
    assert links.all_inner_texts() == ["Overview", "Data", "Leaderboard", "Rules", "Submit", "My submissions"]
    assert sections.get_by_role("link", name="Leaderboard").get_attribute("aria-current") == "page"
    # Tab walks through every section link, in order, the current one included.
    links.first.focus()
    walked = [page.evaluate("document.activeElement.textContent.trim()")]
    for _ in range(5):
        page.keyboard.press("Tab")
        walked.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert walked == ["Overview", "Data", "Leaderboard", "Rules", "Submit", "My submissions"]
    # The strip is wider than a phone: it says so on the side that has more.
    strip = page.locator(".tabs")
    page.goto("/c/iris-cup/")
    assert strip.evaluate("e => e.scrollWidth > e.clientWidth")
    assert strip.get_attribute("data-more-right") is not None
    assert strip.get_attribute("data-more-left") is None
    shot(page, "phone-tabs-more-right")
    # The current section is scrolled into view, and the cue follows the scroll.
    page.goto("/c/iris-cup/submissions/")
    current = sections.get_by_role("link", name="My submissions")
    assert current.evaluate("e => e.getBoundingClientRect().right <= window.innerWidth")
    assert strip.get_attribute("data-more-left") is not None
    assert strip.get_attribute("data-more-right") is None


def test_tables_scroll_inside_their_card_on_a_phone(page, alice, bob):
    from podium.competitions.services import competition_join
    from tests.web.entries import scored_predictions_entry
    from tests.web.factories import competition

    comp = competition()
    competition_join(competition=comp, user=bob)
    scored_predictions_entry(comp, bob, label=comp.dataset.manifest["classes"][0])
    login(page, "bob")
    page.set_viewport_size(PHONE)
    for path in ("/c/iris-cup/leaderboard/", "/c/iris-cup/submissions/"):
        page.goto(path)
        wrap = page.locator(".table-wrap").first
        # The score and the actions are reachable: inside the card, by scrolling it.
        last_cell = wrap.locator("tbody tr").first.locator("td").last
        last_cell.scroll_into_view_if_needed()
        assert last_cell.is_visible()
        box, cell = wrap.bounding_box(), last_cell.bounding_box()
        assert cell["x"] + cell["width"] <= box["x"] + box["width"] + 1, path
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path

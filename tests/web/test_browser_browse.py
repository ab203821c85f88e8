"""Anonymous visitors and new participants: browse, sign up, join, download the data."""

from __future__ import annotations

import pytest

from tests.web.conftest import login, shot
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_browses_signs_up_joins_and_downloads(page, tmp_path):
    competition()
    competition("old-one", "An old one", starts=-30, ends=-2)
    competition("soon", "Coming soon", starts=3, ends=10)

    page.goto("/")
    cards = page.get_by_test_id("comp-card")
    assert cards.count() == 3
    assert page.locator("section[aria-labelledby=sec-open]").get_by_role("link", name="Iris cup").is_visible()
    shot(page, "home")

    page.get_by_role("link", name="Iris cup").click()
    assert page.get_by_test_id("overview").locator("h1").inner_text() == "Welcome"
    # The overview's markdown is sanitised: the pasted script is gone.
    assert "<script" not in page.get_by_test_id("overview").inner_html()
    shot(page, "competition-overview")

    # The sections are links: Tab moves from one to the next.
    page.get_by_role("navigation", name="Competition sections").get_by_role("link", name="Overview").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Data"
    page.keyboard.press("Enter")
    page.wait_for_url("**/data/")
    assert "test_labels" not in page.content()
    assert page.get_by_role("link", name="Log in to download").first.is_visible()
    shot(page, "competition-data")

    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Email").fill("newbie@example.com")
    page.get_by_label("Password", exact=True).fill("a-long-unusual-passphrase")
    page.get_by_label("Password confirmation").fill("a-long-unusual-passphrase")
    shot(page, "signup")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")
    assert page.get_by_role("link", name="newbie").is_visible()

    page.goto("/c/iris-cup/rules/")
    shot(page, "competition-rules")
    # The header's button leads to the one join form, on the rules.
    assert (
        page.get_by_role("link", name="Read the rules and join")
        .get_attribute("href")
        .endswith("/rules/#join")
    )
    # Not ticking the rules is refused before anything is sent (the box is required);
    # the server refuses it too (test_pages).
    page.get_by_role("button", name="Accept the rules and join").click()
    assert page.url.endswith("/rules/")
    assert page.get_by_label("I accept the rules of this competition").evaluate("e => !e.validity.valid")
    page.get_by_label("I accept the rules of this competition").check()
    page.get_by_role("button", name="Accept the rules and join").click()
    page.wait_for_url("**/data/")
    assert page.get_by_text("✓ Joined").is_visible()

    with page.expect_download() as info:
        page.get_by_role("link", name="Download train.csv").click()
    path = tmp_path / "train.csv"
    info.value.save_as(path)
    assert path.read_text().startswith("id,")

    # On a phone the tabs scroll sideways and the cards stack; nothing overflows the page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/c/iris-cup/data/")
    shot(page, "phone-competition-data")
    # (An absolutely positioned label inside a scrolled table once widened the whole page.)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_hidden_labels_are_never_served(page, live_server, alice, bob):
    from podium.competitions.services import competition_join

    comp = competition()
    competition_join(competition=comp, user=alice)

    # Not joined: no download at all, even of public files.
    login(page, "bob")
    assert page.request.get(f"{live_server.url}/c/iris-cup/data/train.csv").status == 403
    page.get_by_role("button", name="Log out").click()

    login(page, "alice")
    response = page.request.get(f"{live_server.url}/c/iris-cup/data/test_labels.csv")
    assert response.status == 404
    response = page.request.get(f"{live_server.url}/c/iris-cup/data/train.csv")
    assert response.status == 200

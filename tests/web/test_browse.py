"""Anonymous visitors and new participants: browse, sign up, join, download the data."""

from __future__ import annotations

import pytest

from tests.web.conftest import shot
from tests.web.factories import plain_competition

pytestmark = pytest.mark.django_db(transaction=True)


def test_visitor_browses_signs_up_joins_and_downloads(page, tmp_path):
    plain_competition()
    plain_competition("old-one", "An old one", starts=-30, ends=-2)
    plain_competition("soon", "Coming soon", starts=3, ends=10)

    page.goto("/")
    cards = page.get_by_test_id("comp-card")
    assert cards.count() == 3
    assert (
        page.locator("section[aria-labelledby=sec-open]").get_by_role("link", name="Toy tabular").is_visible()
    )
    shot(page, "home")

    page.get_by_role("link", name="Toy tabular").click()
    assert page.get_by_test_id("overview").locator("h1").inner_text() == "Welcome"
    # The overview's markdown is sanitised: the pasted script is gone.
    assert "<script" not in page.get_by_test_id("overview").inner_html()
    shot(page, "competition-overview")

    # The tabs are keyboard-operable: arrow right moves focus to the next tab.
    page.get_by_role("tab", name="Overview").focus()
    page.keyboard.press("ArrowRight")
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

    page.goto("/c/toy-tabular/rules/")
    shot(page, "competition-rules")
    page.get_by_role("button", name="Join competition").click()
    # Not accepting the rules is refused, with the reason.
    assert page.get_by_text("accept the rules").first.is_visible()
    page.get_by_label("I accept the rules of this competition").check()
    page.get_by_role("button", name="Join competition").click()
    page.wait_for_url("**/data/")
    assert page.get_by_text("✓ Joined").is_visible()

    with page.expect_download() as info:
        page.get_by_role("link", name="Download train.csv").click()
    path = tmp_path / "train.csv"
    info.value.save_as(path)
    assert path.read_text().startswith("id,x1,x2,label\n")


def test_hidden_labels_are_never_served(page, live_server, alice):
    plain_competition()
    from tests.web.conftest import login

    login(page, "alice")
    response = page.request.get(f"{live_server.url}/c/toy-tabular/data/test_labels.csv")
    assert response.status == 404
    response = page.request.get(f"{live_server.url}/c/toy-tabular/data/train.csv")
    assert response.status == 200

"""The account page: password change, API tokens shown once and revoked, teams."""

from __future__ import annotations

import pytest

from tests.web.conftest import login, shot
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_tokens_password_and_teams(browser, live_server, alice, bob):
    from podium.accounts.models import ApiToken
    from podium.competitions.services import competition_join

    comp = competition()
    competition_join(competition=comp, user=alice)
    competition_join(competition=comp, user=bob)

    page = browser.new_page()
    login(page, "alice")
    page.get_by_role("link", name="alice").click()
    page.get_by_label("Name").fill("laptop CLI")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_test_id("new-token").inner_text().strip()
    assert len(key) > 20
    shot(page, "account")
    # The key works against the API, and it is never shown again.
    api = page.request.get(f"{live_server.url}/api/competitions/", headers={"Authorization": f"Token {key}"})
    assert api.status == 200
    page.reload()
    assert page.get_by_test_id("new-token").count() == 0
    assert key not in page.content()
    page.get_by_role("button", name="Revoke laptop CLI").click()
    assert page.get_by_text("Token revoked.").is_visible()
    assert ApiToken.objects.get(user=alice).revoked_at is not None

    # A team made from the competition's My submissions tab; bob joins with its code.
    page.goto("/c/iris-cup/submissions/")
    page.get_by_label("Team name").fill("Petals")
    page.get_by_role("button", name="Create team").click()
    code = page.get_by_test_id("team-code").inner_text().strip()

    page.get_by_role("link", name="alice").click()
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill("correct-horse-battery")
    page.get_by_label("New password", exact=True).fill("another-long-passphrase-42")
    page.get_by_label("New password confirmation").fill("another-long-passphrase-42")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_text("Your password was changed.").is_visible()
    page.get_by_role("button", name="Log out").click()
    login(page, "alice", "another-long-passphrase-42")
    page.get_by_role("button", name="Log out").click()

    login(page, "bob")
    page.goto("/accounts/")
    page.get_by_label("Join code").fill("nonsense")
    page.get_by_role("button", name="Ask to join").click()
    assert page.get_by_text("No team has the join code").is_visible()
    page.get_by_label("Join code").fill(code)
    page.get_by_role("button", name="Ask to join").click()
    assert page.get_by_text("You asked to join team Petals.").is_visible()
    page.goto("/c/iris-cup/submissions/")
    assert "Petals" in page.get_by_test_id("my-requests").inner_text()
    page.get_by_role("button", name="Log out").click()

    # alice sees who asks on the team card, and lets bob in.
    login(page, "alice", "another-long-passphrase-42")
    page.goto("/c/iris-cup/submissions/")
    assert page.get_by_test_id("team-members").inner_text().split() == ["alice", "you"]
    page.get_by_test_id("join-requests").get_by_role("button", name="Accept bob").click()
    assert page.get_by_text("Request accepted: team Petals has a new member.").is_visible()
    assert "bob" in page.get_by_test_id("team-members").inner_text()
    page.get_by_role("button", name="Log out").click()

    # bob is in; he leaves on the web (it asks first), and competes alone again.
    login(page, "bob")
    page.goto("/accounts/")
    assert "Petals" in page.locator("#teams-h + ul").inner_text()
    page.goto("/c/iris-cup/submissions/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Leave the team").click()
    assert page.get_by_text("You left the team").is_visible()
    assert page.get_by_role("button", name="Ask to join").is_visible()

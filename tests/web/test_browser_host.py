"""The hosts' dashboard in a real browser: charts, the last failures, disqualifying an entry
(its author then reads the reason), a rescore whose progress the open page follows; and who
may not open it."""

from __future__ import annotations

import pytest

from tests.factories.accounts import make_user
from tests.web.conftest import login, wait_until
from tests.web.entries import scored_predictions_entry
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _chart(page, name, expr):
    return page.evaluate(f"Chart.getChart(document.querySelector(\"canvas[data-chart='{name}']\")).{expr}")


def _setup(alice, admin_user):
    from podium.competitions.services import competition_host_add, competition_join
    from podium.submissions.models import Status
    from tests.factories.submissions import make_submission

    comp = competition()
    host = make_user("hannah")
    competition_host_add(competition=comp, user=host, added_by=admin_user)
    competition_join(competition=comp, user=alice)
    classes = comp.dataset.manifest["classes"]
    entries = [scored_predictions_entry(comp, alice, label) for label in classes[:2]]
    make_submission(
        comp, alice, status=Status.FAILED, error_message="The predictions file has no 'id' column."
    )
    return comp, entries


def test_host_dashboard_disqualify_and_rescore(browser, live_server, alice, admin_user):
    from podium.operations.models import RescoreJob
    from podium.operations.rescore import rescore_advance

    comp, entries = _setup(alice, admin_user)
    page = browser.new_page()
    login(page, "hannah")
    page.goto(f"/c/{comp.slug}/")
    page.get_by_role("navigation", name="Competition sections").get_by_role(
        "link", name="Host", exact=True
    ).click()
    wait_until(
        page, "typeof Chart !== 'undefined' && document.querySelector('canvas[data-chart]').dataset.ready"
    )
    assert _chart(page, "chart-per-day", "config.type") == "bar"
    assert sum(_chart(page, "chart-per-day", "data.datasets[0].data")) == 3
    assert sum(_chart(page, "chart-scores", "data.datasets[0].data")) == 2
    assert "no 'id' column" in page.get_by_test_id("failures").inner_text()
    assert page.get_by_test_id("participants").inner_text() == "1"

    page.get_by_label("Entry number").fill(str(entries[0].pk))
    page.get_by_label("Reason (shown to its authors)").fill("labels copied from the test set")
    page.get_by_role("button", name="Disqualify the entry").click()
    assert page.get_by_text(f"Entry #{entries[0].pk} disqualified.").is_visible()
    assert "entry_disqualify" in page.get_by_test_id("audit").inner_text()
    page.get_by_label("Entry number").fill("12ab")
    page.get_by_label("Reason (shown to its authors)").fill("x")
    page.get_by_role("button", name="Disqualify the entry").click()
    assert page.get_by_text("No entry #12ab in this competition.").is_visible()

    page.get_by_label("Metric").select_option("macro_f1")
    page.get_by_role("button", name="Rescore").click()
    # A disqualified entry is scored again too: reinstated, it ranks on current scores.
    assert "0 of 2 entries" in page.get_by_test_id("rescore-state").inner_text()
    job = RescoreJob.objects.get(competition=comp)
    while RescoreJob.objects.get(pk=job.pk).state != "done":
        rescore_advance(job_id=job.pk)
    # The open page polls the job and shows the end without a reload.
    wait_until(
        page,
        "document.querySelector('[data-testid=rescore-state]').innerText.includes('Done')",
        timeout=10_000,
    )

    page.get_by_label("Entry to reinstate").fill(str(entries[1].pk))
    page.get_by_role("button", name="Reinstate").click()
    # Entry 1 was never disqualified: the refusal says so, and nothing changes.
    assert page.get_by_text(f"Entry #{entries[1].pk} is not disqualified.").is_visible()

    page.get_by_role("button", name="Log out").click()
    author = page
    login(author, "alice")
    author.goto(f"/c/{comp.slug}/submissions/")
    assert "labels copied from the test set" in author.get_by_test_id("disqualified").inner_text()
    assert (
        author.get_by_role("navigation", name="Competition sections")
        .get_by_role("link", name="Host", exact=True)
        .count()
        == 0
    )


@pytest.mark.parametrize("who", ["alice", "other_host"])
def test_participants_and_other_hosts_cannot_open_it(browser, live_server, alice, admin_user, who):
    from podium.competitions.services import competition_host_add

    comp, _ = _setup(alice, admin_user)
    if who == "other_host":
        other = competition("other-cup", title="Other cup")
        competition_host_add(competition=other, user=make_user("other_host"), added_by=admin_user)
    page = browser.new_page()
    login(page, who)
    answer = page.goto(f"/c/{comp.slug}/host/")
    assert answer.status == 403
    # The refusal itself is the page's answer, not its error.
    browser.errors[:] = [e for e in browser.errors if "status of 403" not in e]


def test_anonymous_is_sent_to_log_in(browser, live_server, alice, admin_user):
    comp, _ = _setup(alice, admin_user)
    page = browser.new_page()
    page.goto(f"/c/{comp.slug}/host/")
    assert "/accounts/login/" in page.url

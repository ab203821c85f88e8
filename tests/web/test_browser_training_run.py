"""The entry page's training run in a real browser: where the run trained (device, threads,
torch, the precision used and asked for) and how it ended. Who may see it is the entry's
rule, tested through the client in tests/platform/submissions/test_training_report.py."""

from __future__ import annotations

import pytest

from tests.web.conftest import login, shot
from tests.web.entries import config_entry
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_entry_page_shows_where_the_run_trained_and_how_it_ended(browser, live_server, alice):
    from podium.competitions.services import competition_join
    from podium.submissions.services import submission_fail

    comp = competition()
    competition_join(competition=comp, user=alice)
    entry = config_entry(comp, alice, epochs=1)
    environment = {
        "torch": "2.13.0",
        "device": "cpu",
        "threads": 4,
        "precision": "fp32",
        "precision_asked": "bf16",
    }
    submission_fail(
        submission_id=entry.pk,
        attempt=entry.attempt,
        message="training diverged at epoch 1 (train): a batch loss reached 1.28e+08; try a lower learning rate",
        report={"environment": environment},
    )

    page = browser.new_page()
    login(page, "alice")
    page.goto(f"/submissions/{entry.pk}/")
    run = page.get_by_test_id("training-run")
    assert run.is_visible()
    assert page.get_by_test_id("run-device").inner_text() == "cpu"
    assert page.get_by_test_id("run-threads").inner_text() == "4"
    assert page.get_by_test_id("run-torch").inner_text() == "2.13.0"
    assert "bf16 asked for" in page.get_by_test_id("run-precision").inner_text()
    assert "try a lower learning rate" in page.get_by_test_id("status").locator("..").inner_text()
    shot(page, "submission-training-run")

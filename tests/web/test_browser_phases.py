"""In a real browser: a participant sees the phases, picks a phase's board, opens the late
board, and submits to the current phase."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.web.conftest import login, shot
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_participant_sees_phases_picks_a_board_and_the_late_board(page, alice, bob, tmp_path):
    from podium.competitions import services
    from tests.factories.competitions import make_participations
    from tests.factories.leaderboards import make_entry
    from tests.factories.submissions import predictions_csv

    comp = competition()
    services.phase_update(
        phase=comp.phases.get(),
        slug="development",
        title="Development",
        ends_at=timezone.now() - timedelta(hours=1),
        late_entries=True,
    )
    final = services.phase_create(competition=comp, slug="final", title="Final round")
    make_participations(comp, alice, bob)
    development = comp.phases.get(slug="development")
    make_entry(comp, bob, 0.8123, phase=development)
    make_entry(comp, bob, 0.9456, phase=development, late=True)
    make_entry(comp, bob, 0.6789, phase=final)

    login(page, "alice")
    page.goto("/c/iris-cup/")
    phases = page.get_by_test_id("phases")
    assert phases.is_visible()
    assert phases.locator("li[aria-current=step]").inner_text().startswith("Final round")
    shot(page, "phases-overview")

    page.get_by_role("navigation", name="Competition sections").get_by_role(
        "link", name="Leaderboard", exact=True
    ).click()
    page.wait_for_url("**/leaderboard/")
    assert page.get_by_test_id("board-public").get_by_text("0.6789").is_visible()
    page.get_by_test_id("phase-picker").get_by_role("link", name="Development").click()
    page.wait_for_url("**phase=development**")
    assert page.get_by_test_id("board-public").get_by_text("0.8123").is_visible()
    page.get_by_test_id("late-board-link").click()
    page.wait_for_url("**late=1**")
    late = page.get_by_test_id("board-public-late")
    assert late.get_by_text("0.9456").is_visible() and late.get_by_text("0.8123").count() == 0
    shot(page, "late-board")

    page.get_by_role("navigation", name="Competition sections").get_by_role(
        "link", name="Submit", exact=True
    ).click()
    page.wait_for_url("**/submit/")
    assert "Final round" in page.get_by_test_id("submit-phase").inner_text()
    path = tmp_path / "p.csv"
    path.write_bytes(predictions_csv(comp))
    page.get_by_role("link", name="Predictions CSV").click()
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Upload predictions").click()
    page.wait_for_url("**/submissions/")
    from podium.submissions.models import Submission

    entry = Submission.objects.get(user=alice)
    assert entry.phase_id == final.pk and not entry.is_late

"""Participants see the phases (which is current, the windows), pick a phase's board, see the
late board; the Submit tab says where entries go. Through Django's test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from podium.competitions import services
from tests.factories.competitions import make_participations
from tests.factories.leaderboards import make_entry
from tests.web.factories import competition

pytestmark = pytest.mark.django_db


@pytest.fixture
def phased(alice, bob):
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
    comp._phase_rows = None
    return comp, comp.phases.get(slug="development"), final


def test_the_phases_are_listed_with_the_current_one(client, phased):
    page = client.get("/c/iris-cup/").content.decode()
    assert 'data-testid="phases"' in page
    assert 'data-phase="development"' in page and 'data-phase="final"' in page
    assert '<li aria-current="step" data-phase="final">' in page


def test_a_phase_board_the_late_board_and_an_unknown_phase(client, phased, alice, bob):
    comp, development, final = phased
    make_entry(comp, alice, 0.91, phase=development)
    make_entry(comp, bob, 0.55, phase=final)
    make_entry(comp, bob, 0.97, phase=development, late=True)

    current = client.get("/c/iris-cup/leaderboard/").content.decode()
    assert 'data-testid="phase-picker"' in current and "0.55" in current and "0.91" not in current
    dev = client.get("/c/iris-cup/leaderboard/", {"phase": "development"}).content.decode()
    assert "0.91" in dev and "0.97" not in dev and 'data-testid="late-board-link"' in dev
    late = client.get("/c/iris-cup/leaderboard/", {"phase": "development", "late": "1"}).content.decode()
    assert 'data-testid="board-public-late"' in late and "0.97" in late and "0.91" not in late
    assert "never changing the final ranks" in late

    unknown = client.get("/c/iris-cup/leaderboard/", {"phase": "nope"})
    assert unknown.status_code == 404
    body = unknown.content.decode()
    assert "has no phase" in body and "0.55" in body  # the current board, with the reason


def test_the_submit_tab_says_where_entries_go(client, phased, alice):
    client.force_login(alice)
    page = client.get("/c/iris-cup/submit/").content.decode()
    assert 'data-testid="submit-phase"' in page and "Final round" in page


def test_my_entries_of_every_phase_with_their_rows_polled(client, phased, alice):
    comp, development, final = phased
    make_entry(comp, alice, 0.4321, phase=development)
    make_entry(comp, alice, 0.8765, phase=final)
    client.force_login(alice)
    for url in ("/c/iris-cup/submissions/", "/c/iris-cup/submissions/rows/"):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert "0.4321" in answer.content.decode() and "0.8765" in answer.content.decode()


def test_a_permanent_benchmark_says_it_has_no_end(client, alice):
    comp = competition(slug="bench")
    services.competition_update(competition=comp, ends_at=None)
    page = client.get("/c/bench/").content.decode()
    assert 'data-testid="permanent"' in page and "no end (a permanent benchmark)" in page
    rules = client.get("/c/bench/rules/").content.decode()
    assert "a permanent benchmark, whose board stays open" in rules
    home = client.get("/").content.decode()
    assert "a permanent benchmark (no end)" in home

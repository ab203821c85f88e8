"""A sweep's entry page in a browser: Chart.js draws every variant's curves, each variant in a
colour of its own (its validation and training lines alike), the kept one thicker, and the
legend names each variant."""

from __future__ import annotations

import pytest

from tests.web.conftest import login, shot, wait_until
from tests.web.factories import competition
from tests.web.test_variant_pages import REPORT, finish, sweep_entry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _chart(page, name, expr):
    return page.evaluate(f"Chart.getChart(document.querySelector(\"canvas[data-chart='{name}']\")).{expr}")


def test_every_variant_has_its_colour_and_the_kept_one_stands_out(browser, live_server, alice):
    from podium.competitions.services import competition_join

    comp = competition(max_variants=2)
    competition_join(competition=comp, user=alice)
    entry = sweep_entry(comp, alice, {0: 3, 1: 2})
    finish(entry, REPORT)

    page = browser.new_page()
    login(page, "alice")
    page.goto(f"/submissions/{entry.pk}/")
    wait_until(
        page, "typeof Chart !== 'undefined' && document.querySelector('canvas[data-chart]').dataset.ready"
    )
    datasets = _chart(
        page,
        "chart-loss",
        "data.datasets.map(d => [d.label, d.borderColor, d.borderWidth, d.borderDash.length > 0])",
    )
    (v0, v0_train, v1, v1_train) = datasets
    assert v0[1] == v0_train[1] != v1[1] == v1_train[1]  # one colour per variant
    assert (v0[2], v1[2]) == (2, 4)  # the kept variant is drawn thicker
    assert (v0[3], v0_train[3]) == (False, True)  # training dashed
    assert v1[0] == "1: lr=0.05 ★ kept"
    legend = _chart(page, "chart-metric", "legend.legendItems.map(i => i.text)")
    assert legend == ["0: lr=0.01", "1: lr=0.05 ★ kept"]
    assert page.get_by_test_id("variant-row").count() == 2
    shot(page, "submission-sweep")

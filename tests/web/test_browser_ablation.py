"""An ablation started from the website in Chromium: the entry page's Ablate action, the
variants by technique, a refusal shown with the ticks kept, Start; then the ablation's page
follows its runs live (htmx polls the status and reloads when a run moves on) until the table
and the curves are there. The runs move through the lab's own services (the calls the worker
callbacks make); tests/web/test_browser_ablation_pipeline.py trains them with the real workers."""

from __future__ import annotations

import pytest

from podium.lab.models import Ablation, LabRun
from tests.web.ablations import scored_model_entry, train_runs, trained_ablation
from tests.web.conftest import login, shot, wait_until
from tests.web.factories import competition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _chart(page, name, expr):
    return page.evaluate(f"Chart.getChart(document.querySelector(\"canvas[data-chart='{name}']\")).{expr}")


def test_the_owner_starts_an_ablation_and_watches_its_table_and_curves_arrive(browser, live_server, alice):
    from podium.competitions.services import competition_join

    comp = competition()
    competition_join(competition=comp, user=alice)
    entry = scored_model_entry(comp, alice)

    page = browser.new_page()
    login(page, "alice")
    page.goto(f"/submissions/{entry.pk}/")
    page.get_by_role("link", name="Ablate…").click()
    page.wait_for_url(f"**/submissions/{entry.pk}/ablate/")
    activation = page.locator("fieldset[data-technique=activation]")
    assert "Activation function" in activation.locator("legend").inner_text()
    assert "1,200 model-epochs" in page.get_by_test_id("ablation-quota").inner_text()

    # Nothing ticked: the page says what is wrong, and nothing is stored.
    page.get_by_role("button", name="Start the ablation").click()
    page.get_by_text("pick at least one variant").wait_for()
    assert not Ablation.objects.exists()

    sigmoid = page.get_by_role("checkbox", name="sigmoid")
    sigmoid.first.check()
    page.get_by_role("checkbox", name="optimizer:sgd").check()
    shot(page, "ablate")
    page.get_by_role("button", name="Start the ablation").click()
    page.wait_for_url("**/ablations/*/")
    ablation = Ablation.objects.get()
    assert sorted(LabRun.objects.filter(ablation=ablation).values_list("key", flat=True)) == [
        "activation:sigmoid",
        "baseline",
        "optimizer:sgd",
    ]
    assert page.get_by_test_id("ablation-status").inner_text() == "Queued"
    assert page.get_by_test_id("ablation-row").count() == 3
    assert page.get_by_test_id("no-curves").is_visible()

    # The runs train and are scored: the polled status card reloads the page, without a click.
    train_runs(ablation)
    page.get_by_test_id("ablation-status").get_by_text("Done").wait_for(timeout=20_000)
    wait_until(
        page,
        "typeof Chart !== 'undefined'"
        " && Chart.getChart(document.querySelector(\"canvas[data-chart='ablation-flow']\")) !== undefined",
    )
    sigmoid_row = page.locator("[data-testid=ablation-row][data-variant='activation:sigmoid']")
    assert "yes, worse" in sigmoid_row.get_by_test_id("beyond-noise").inner_text()
    assert sigmoid_row.get_by_test_id("diff").inner_text().startswith("-")
    legend = _chart(page, "ablation-loss", "legend.legendItems.map(i => i.text)")
    assert legend[:2] == ["original", "original (train)"] and "activation:sigmoid" in legend
    assert _chart(page, "ablation-flow", "options.scales.y.type") == "logarithmic"
    assert _chart(page, "ablation-flow", "data.labels") == ["linear 1", "linear 2"]
    assert _chart(page, "ablation-ratio", "data.datasets.length") == 3
    shot(page, "ablation")

    # The entry page lists it.
    page.get_by_role("link", name=f"submission #{entry.pk}").click()
    page.get_by_test_id("ablations").get_by_role("link", name=f"Ablation #{ablation.pk}").wait_for()


def test_tick_every_variant_and_cancel_on_a_phone(browser, live_server, alice):
    from podium.competitions.services import competition_join

    comp = competition()
    competition_join(competition=comp, user=alice)
    entry = scored_model_entry(comp, alice)
    trained_ablation(entry, alice, ["optimizer:sgd"])  # an earlier one, done

    page = browser.new_page()
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, "alice")
    page.goto(f"/submissions/{entry.pk}/ablate/")
    boxes = page.locator("input[name=variants]")
    page.get_by_role("button", name="Tick every variant").click()
    ticked = boxes.count()
    assert ticked > 3 and all(boxes.nth(i).is_checked() for i in range(ticked))
    shot(page, "ablate-phone")
    page.get_by_role("button", name="Start the ablation").click()
    page.wait_for_url("**/ablations/*/")
    ablation = Ablation.objects.latest("id")
    assert LabRun.objects.filter(ablation=ablation).count() == ticked + 1  # and the original
    shot(page, "ablation-phone")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the ablation").click()
    page.get_by_text("cancelled: its runs stop").wait_for()
    assert page.get_by_test_id("ablation-status").inner_text() == "Cancelled"
    assert set(LabRun.objects.filter(ablation=ablation).values_list("status", flat=True)) == {"cancelled"}

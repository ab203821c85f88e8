"""The ablation pages through Django's test client: the Ablate page (variants by technique, the
quota), starting one and every refusal (named, shown, nothing stored), the ablation's page
(table, curves, status), the entry page's action and list, and who may see what: the owner,
another participant, an anonymous visitor, a host and an admin."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from podium.lab.models import Ablation, LabRun, RunStatus
from tests.factories.accounts import make_user
from tests.web.ablations import scored_model_entry, trained_ablation
from tests.web.entries import config_entry
from tests.web.factories import competition

pytestmark = pytest.mark.django_db


@pytest.fixture
def comp(alice, bob):
    from podium.competitions.services import competition_join

    comp = competition()
    for user in (alice, bob):
        competition_join(competition=comp, user=user)
    return comp


@pytest.fixture
def entry(comp, alice):
    return scored_model_entry(comp, alice)


@pytest.fixture
def host(comp, admin_user):
    from podium.competitions.services import competition_host_add

    host = make_user("hannah")
    competition_host_add(competition=comp, user=host, added_by=admin_user)
    return host


def ablate_url(entry) -> str:
    return f"/submissions/{entry.pk}/ablate/"


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_the_ablate_page_groups_the_variants_by_technique_with_the_quota(client, alice, entry):
    client.force_login(alice)
    response = client.get(ablate_url(entry))
    assert response.status_code == 200
    html = response.content.decode()
    groups = {g["technique"]: g for g in response.context["groups"]}
    assert {"activation", "optimizer"} <= set(groups)
    assert "Activation function" in html and "Optimiser" in html
    for group in groups.values():
        for variant in group["variants"]:
            assert variant["technique"] == group["technique"] and variant["fits"]
            assert f'value="{variant["key"]}"' in html and escape(variant["change"]) in html
    # The quota: the default 1,200 model-epochs a day, each run the budget's 8 epochs.
    quota = response.context["quota"]
    assert (quota["daily"], quota["used"], quota["remaining"], quota["epochs_per_run"]) == (1200, 0, 1200, 8)
    assert "1,200 model-epochs: enough for the original and 149 variants" in html
    assert "disabled" not in html.split('data-testid="ablation-form"')[1]
    assert "csrfmiddlewaretoken" in html


def test_starting_an_ablation_from_the_page(client, alice, entry):
    client.force_login(alice)
    response = client.post(ablate_url(entry), {"variants": ["activation:sigmoid", "optimizer:sgd"]})
    ablation = Ablation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/ablations/{ablation.pk}/"
    assert sorted(LabRun.objects.values_list("key", flat=True)) == [
        "activation:sigmoid",
        "baseline",
        "optimizer:sgd",
    ]
    page = client.get(response["Location"])
    assert f"Ablation #{ablation.pk} started: 2 variants and the original" in messages_of(page)
    # The quota counts it: three runs of 8 epochs.
    again = client.get(ablate_url(entry))
    assert again.context["quota"]["used"] == 24
    assert "1,176 model-epochs: enough for the original and 146 variants" in again.content.decode()


@pytest.mark.parametrize(
    "variants, said",
    [
        ([], "variants: pick at least one variant"),
        (["activation:nope"], "variants[0]: no ablation 'activation:nope' applies to this config"),
        (["activation:sigmoid", "activation:sigmoid"], "variants[1]: repeats 'activation:sigmoid'"),
    ],
)
def test_bad_choices_are_shown_and_nothing_is_stored(client, alice, entry, variants, said):
    client.force_login(alice)
    response = client.post(ablate_url(entry), {"variants": variants})
    assert response.status_code == 200  # the form again, with the reason (the API answers 400)
    shown = messages_of(response)
    assert "nothing was stored" in shown and said in shown
    assert not Ablation.objects.exists() and not LabRun.objects.exists()
    # The ticks stay as they were, so that one untick fixes the form.
    html = response.content.decode()
    for key in set(variants) & {"activation:sigmoid"}:
        assert f'value="{key}" checked' in html


def test_a_variant_over_the_budget_is_listed_with_why_but_cannot_be_ticked(client, alice, comp, entry):
    comp.budget_params = 100  # the entry's 131 parameters, and every variant's, are over it now
    comp.save(update_fields=["budget_params"])
    client.force_login(alice)
    html = client.get(ablate_url(entry)).content.decode()
    form = html.split('data-testid="ablation-form"')[1]
    boxes = form.count('name="variants"')
    assert boxes > 3 and form.count(" disabled aria-describedby=") == boxes
    assert form.count("Not under this competition's budget:") == boxes
    assert "parameters" in form


def test_over_the_quota_says_what_was_used_and_when_it_resets(client, alice, comp, entry):
    comp.lab_daily_epochs = 20  # two runs of 8 epochs fit, three do not
    comp.save(update_fields=["lab_daily_epochs"])
    client.force_login(alice)
    response = client.post(ablate_url(entry), {"variants": ["activation:sigmoid", "optimizer:sgd"]})
    assert response.status_code == 200
    shown = messages_of(response)
    assert "0 of 20 model-epochs used" in shown and "needs 24" in shown and "resets at" in shown
    assert not Ablation.objects.exists()


def test_ablations_switched_off_show_so_and_start_nothing(client, alice, comp, entry):
    comp.lab_daily_epochs = 0
    comp.save(update_fields=["lab_daily_epochs"])
    client.force_login(alice)
    page = client.get(ablate_url(entry)).content.decode()
    assert "Ablations are off in this competition" in page
    response = client.post(ablate_url(entry), {"variants": ["activation:sigmoid"]})
    assert response.status_code == 200 and "Ablations are off" in messages_of(response)
    assert not Ablation.objects.exists()


def test_only_a_scored_model_entry_has_an_ablate_page_and_action(client, alice, comp, entry):
    training = config_entry(comp, alice, epochs=1)
    client.force_login(alice)
    response = client.get(ablate_url(training))
    assert "Only a scored model entry can be ablated" in messages_of(response)
    assert 'name="variants"' not in response.content.decode()
    refused = client.post(ablate_url(training), {"variants": ["activation:sigmoid"]})
    assert "Only a scored model entry can be ablated" in messages_of(refused)
    assert not Ablation.objects.exists()
    assert ablate_url(training) not in client.get(f"/submissions/{training.pk}/").content.decode()
    assert ablate_url(entry) in client.get(f"/submissions/{entry.pk}/").content.decode()


def test_the_ablation_page_shows_the_table_and_the_curves(client, alice, entry):
    ablation = trained_ablation(entry, alice, ["activation:sigmoid", "optimizer:sgd"])
    client.force_login(alice)
    response = client.get(f"/ablations/{ablation.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = response.context["rows"]
    assert [r.key for r in rows] == ["baseline", "activation:sigmoid", "optimizer:sgd"]
    assert all(r.status == RunStatus.DONE and r.score is not None for r in rows)
    sigmoid = rows[1]
    assert sigmoid.diff < 0 and sigmoid.beyond_noise is True  # half its rows wrong: beyond noise
    assert "yes, worse" in html and "the original" in html
    assert "Accuracy on the held-out rows" in html and "(higher is better)" in html
    assert f"{sigmoid.diff:+.4f}" in html and f"[{sigmoid.diff_low:+.4f}, {sigmoid.diff_high:+.4f}]" in html
    assert escape(sigmoid.change) in html
    assert "Done" in html and "3 of 3 runs done" in html
    assert 'hx-trigger="every 2s"' not in html  # nothing left to follow
    for name in ("ablation-loss", "ablation-flow", "ablation-ratio"):
        assert f'data-chart="{name}"' in html and f'id="{name}"' in html
    flow = response.context["charts"]["flow"]
    assert flow["labels"] == ["linear 1", "linear 2"]
    assert [s["label"] for s in flow["series"]] == ["original", "activation:sigmoid", "optimizer:sgd"]
    sigmoid_flow = flow["series"][1]["data"]
    assert sigmoid_flow[0] / sigmoid_flow[1] < 1e-3  # its first layer barely gets a gradient


def test_a_running_ablation_polls_its_status_and_reloads_when_a_run_moves_on(client, alice, entry):
    ablation = trained_ablation(entry, alice, ["activation:sigmoid"], finish=False)
    client.force_login(alice)
    html = client.get(f"/ablations/{ablation.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in html and "Cancel the ablation" in html
    assert "0 of 2 runs done, 2 training; 6 epochs reported" in html
    seen = client.get(f"/ablations/{ablation.pk}/").context["progress"].key
    card = client.get(f"/ablations/{ablation.pk}/status/", {"seen": seen})
    assert card.status_code == 200 and "HX-Refresh" not in card
    assert client.get(f"/ablations/{ablation.pk}/status/", {"seen": "old"})["HX-Refresh"] == "true"


def test_cancelling_from_the_page_stops_the_runs(client, alice, entry):
    ablation = trained_ablation(entry, alice, ["activation:sigmoid"], finish=False)
    client.force_login(alice)
    response = client.post(f"/ablations/{ablation.pk}/cancel/")
    assert response.status_code == 302
    assert set(LabRun.objects.values_list("status", flat=True)) == {RunStatus.CANCELLED}
    page = client.get(f"/ablations/{ablation.pk}/")
    assert "cancelled: its runs stop" in messages_of(page)
    assert "Cancel the ablation" not in page.content.decode()


def test_who_sees_what(client, alice, bob, admin_user, host, entry):
    ablation = trained_ablation(entry, alice, ["activation:sigmoid"])
    urls = [ablate_url(entry), f"/ablations/{ablation.pk}/", f"/ablations/{ablation.pk}/status/"]

    for url in urls:  # anonymous: asked to log in
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post(f"/ablations/{ablation.pk}/cancel/").status_code == 302

    for stranger in (bob, host):  # another participant, a host of the competition: not there
        client.force_login(stranger)
        for url in urls:
            assert client.get(url).status_code == 404, (stranger, url)
        assert client.post(ablate_url(entry), {"variants": ["optimizer:sgd"]}).status_code == 404
        assert client.post(f"/ablations/{ablation.pk}/cancel/").status_code == 404

    # Staff read an ablation for support (the lab's rule) but neither start nor cancel one.
    client.force_login(admin_user)
    assert client.get(ablate_url(entry)).status_code == 404
    page = client.get(f"/ablations/{ablation.pk}/")
    assert page.status_code == 200 and "Cancel the ablation" not in page.content.decode()
    assert client.post(f"/ablations/{ablation.pk}/cancel/").status_code == 404
    # The entry page lists an ablation to its owner alone.
    assert f"/ablations/{ablation.pk}/" not in client.get(f"/submissions/{entry.pk}/").content.decode()

    client.force_login(alice)
    page = client.get(f"/submissions/{entry.pk}/").content.decode()
    assert f"/ablations/{ablation.pk}/" in page and "Your ablations of it" in page
    assert Ablation.objects.count() == 1 and LabRun.objects.exclude(status=RunStatus.DONE).count() == 0


def test_the_entry_page_lists_ablations_in_a_fixed_number_of_queries(client, alice, entry):
    client.force_login(alice)
    trained_ablation(entry, alice, ["activation:sigmoid"], finish=False)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/submissions/{entry.pk}/").status_code == 200
        return len(ctx)

    one = queries()
    for keys in (["optimizer:sgd"], ["activation:sigmoid", "optimizer:sgd"]):
        trained_ablation(entry, alice, keys, finish=False)
    assert queries() == one


def test_the_ablation_page_costs_the_same_queries_for_few_runs_or_many(client, alice, entry):
    client.force_login(alice)
    few = trained_ablation(entry, alice, ["activation:sigmoid"])
    many = trained_ablation(entry, alice, ["activation:sigmoid", "optimizer:sgd", "optimizer:momentum"])

    def queries(ablation) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/ablations/{ablation.pk}/").status_code == 200
        return len(ctx)

    assert queries(few) == queries(many)


def test_chart_data_is_json_never_script(client, alice, entry):
    ablation = trained_ablation(entry, alice, ["activation:sigmoid"])
    client.force_login(alice)
    html = client.get(f"/ablations/{ablation.pk}/").content.decode()
    start = html.index('<script id="ablation-flow" type="application/json">') + len(
        '<script id="ablation-flow" type="application/json">'
    )
    spec = json.loads(html[start : html.index("</script>", start)])
    assert spec["log"] is True and spec["xlabel"] == "layer, input side first"


def test_a_failed_variant_shows_its_reason_in_its_row(client, alice, entry):
    from podium.lab.services import lab_run_fail

    ablation = trained_ablation(entry, alice, ["activation:sigmoid", "optimizer:sgd"], finish=False)
    failing = LabRun.objects.get(ablation=ablation, key="optimizer:sgd")
    lab_run_fail(
        run_id=failing.pk,
        attempt=failing.attempt,
        message="training diverged at epoch 2 (train): try a lower learning rate",
    )
    client.force_login(alice)
    html = client.get(f"/ablations/{ablation.pk}/").content.decode()
    row = html[html.index('data-variant="optimizer:sgd"') :]
    row = row[: row.index("</tr>")]
    assert "badge-failed" in row and "try a lower learning rate" in row
    assert "1 failed" in html and "2 training" in html

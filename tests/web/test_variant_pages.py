"""The pages of a sweep or an ensemble: every variant's curve on the entry page, one colour and
legend entry per variant and the kept one marked; the Variants table; progress over all the
variants' epochs; the rules page's limit. An entry of one model looks as before."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from django.db import transaction

from tests.factories.submissions import sweep_report
from tests.web.entries import config_entry
from tests.web.factories import competition

pytestmark = pytest.mark.django_db

SWEEP = """version: 1
seed: 0
model:
  layers: [linear: {units: 16}, relu, dropout: 0.1, linear: {units: auto}]
train:
  epochs: 3
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
sweep: {grid: {lr: [0.01, 0.05]}}
"""

REPORT = sweep_report(
    stopped_reason="early_stopping", epochs_run=2, val_metric={"name": "accuracy", "value": 0.9}
)


def _join(comp, user):
    from podium.competitions.services import competition_join

    competition_join(competition=comp, user=user)


def sweep_entry(comp, user, epochs: dict[int, int]):
    """A sweep claimed by a worker that reported `epochs[variant]` epochs of each variant."""
    from podium.submissions.models import Submission
    from podium.submissions.services import submission_claim, submission_create, submission_record_epoch

    with transaction.atomic():
        entry, _ = submission_create(competition=comp, user=user, config_text=SWEEP)
    submission_claim(submission_id=entry.pk, attempt=1)
    for variant, n in epochs.items():
        for epoch in range(1, n + 1):
            loss = (1.0 + variant) / epoch
            submission_record_epoch(
                submission_id=entry.pk,
                attempt=1,
                variant=variant,
                epoch=epoch,
                data={
                    "train_loss": loss,
                    "val_loss": loss * 1.1,
                    "val_metric": {"name": "accuracy", "value": 0.5 + 0.1 * epoch},
                    "grad_norms": {"layers.0.linear": 0.5 / epoch + variant},
                },
            )
    return Submission.objects.get(pk=entry.pk)


def finish(entry, report):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from podium.submissions.services import submission_store_predictions
    from tests.factories.submissions import predictions_csv

    upload = SimpleUploadedFile("p.csv", predictions_csv(entry.competition), content_type="text/csv")
    submission_store_predictions(submission_id=entry.pk, attempt=1, file=upload, report=report)


def chart(html: str, name: str) -> dict:
    """The chart spec the page embeds (`json_script`) for site.js."""
    opening = f'<script id="{name}" type="application/json">'
    start = html.index(opening) + len(opening)
    return json.loads(html[start : html.index("</script>", start)])


def test_the_entry_page_draws_every_variant_and_marks_the_kept_one(client, alice):
    comp = competition(max_variants=2)
    _join(comp, alice)
    entry = sweep_entry(comp, alice, {0: 3, 1: 2})
    finish(entry, REPORT)
    client.force_login(alice)
    html = client.get(f"/submissions/{entry.pk}/").content.decode()

    loss = chart(html, "chart-loss")
    assert loss["labels"] == [1, 2, 3]
    assert [(s["label"], s["color"], s["dashed"], s["bold"]) for s in loss["series"]] == [
        ("0: lr=0.01", 0, False, False),
        ("0: lr=0.01 (train)", 0, True, False),
        ("1: lr=0.05 ★ kept", 1, False, True),
        ("1: lr=0.05 ★ kept (train)", 1, True, True),
    ]
    # Variant 1 stopped after 2 epochs: its line ends there.
    assert loss["series"][2]["data"][2] is None and loss["series"][0]["data"][2] is not None
    metric = chart(html, "chart-metric")
    assert [s["label"] for s in metric["series"]] == ["0: lr=0.01", "1: lr=0.05 ★ kept"]
    assert metric["ylabel"] == "validation accuracy"
    grad = chart(html, "chart-grad")
    assert grad["variant"] == "1: lr=0.05 ★ kept" and grad["labels"] == [1, 2]
    assert "Of model 1: lr=0.05 ★ kept." in html

    assert html.count('data-testid="variant-row"') == 2
    assert "Sweep: 2 models" in html
    assert "★ kept</span>" in html and "not kept" in html
    assert "early stopping after 2 epochs" in html and "0.9000" in html
    assert "the sweep kept variant 1 (lr=0.05) of 2; 5 of 6 epochs trained in all" in html


def test_a_running_sweep_lists_its_models_and_counts_every_variants_epochs(client, alice):
    comp = competition(max_variants=2)
    _join(comp, alice)
    entry = sweep_entry(comp, alice, {0: 3, 1: 1})
    client.force_login(alice)
    html = client.get(f"/submissions/{entry.pk}/").content.decode()
    assert html.count('data-testid="variant-row"') == 2 and "training" in html
    rows = client.get(f"/c/{comp.slug}/submissions/rows/").content.decode()
    assert "epoch 4 / 6" in rows  # 4 of the 2 × 3 epochs the sweep plans


def test_an_entry_of_one_model_looks_as_before(client, alice):
    comp = competition()
    _join(comp, alice)
    entry = config_entry(comp, alice, epochs=2)
    client.force_login(alice)
    html = client.get(f"/submissions/{entry.pk}/").content.decode()
    assert 'data-testid="variants"' not in html
    loss = chart(html, "chart-loss")
    assert loss["series"] == [
        {"label": "train loss", "data": loss["series"][0]["data"], "dashed": False},
        {"label": "validation loss", "data": loss["series"][1]["data"], "dashed": False},
    ]


def test_the_rules_page_says_how_many_models_an_entry_may_train(client):
    competition(max_variants=4)
    html = client.get("/c/iris-cup/rules/").content.decode()
    assert "up to 4 models per entry" in html
    competition(slug="single", title="Single")
    assert "not allowed: one model per entry" in client.get("/c/single/rules/").content.decode()


def test_the_charts_read_what_a_real_sweep_reports():
    """Epoch records of a real (tiny) sweep, through the worker's payload encoding and the
    epochs callback's split of `variant` from the data, give a curve per variant."""
    from podium.web.charts import submission_charts
    from workers.data import load_dataset
    from workers.runner import epoch_payload
    from workers.spec import expand_variants, parse_config
    from workers.training import train_entry

    config = parse_config(SWEEP.replace("epochs: 3", "epochs: 2"))
    records = []
    result = train_entry(config, load_dataset("iris"), on_epoch=lambda r: records.append(epoch_payload(r)))
    epochs = []
    for r in records:
        data = dict(r)
        epochs.append(SimpleNamespace(epoch=data["epoch"], variant=data.pop("variant"), data=data))
    charts = submission_charts(epochs, variants=expand_variants(config), kept=result.variants["kept"])
    assert len(charts["loss"]["series"]) == 4 and len(charts["metric"]["series"]) == 2
    assert all(v is not None for s in charts["metric"]["series"] for v in s["data"])
    winner = expand_variants(config)[result.variants["kept"]]
    assert [s["label"] for s in charts["metric"]["series"] if s["bold"]] == [
        f"{winner.index}: {winner.label} ★ kept"
    ]
    assert json.dumps(charts)  # the page embeds it as JSON

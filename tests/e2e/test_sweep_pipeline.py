"""A sweep end to end, with real processes (gunicorn, the scorer, the Django-free trainer and
a broker): the worker trains every variant, posts each variant's epochs, keeps the variant best
on the validation rows, uploads its predictions and weights, and the scorer ranks the entry."""

from __future__ import annotations

import json

import pytest

from podium_client.client import PodiumClient
from tests.e2e.helpers import TINY_CONFIG, board, wait_final

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SWEEP = TINY_CONFIG + "sweep: {grid: {lr: [0.0001, 0.05]}}\n"


def test_a_sweep_is_trained_by_the_worker_and_its_best_variant_scored(
    private_redis, make_platform, competition, participant, tmp_path
):
    from safetensors import safe_open

    from podium.submissions.models import EpochMetric, Submission

    competition.max_variants = 2
    competition.save(update_fields=["max_variants"])
    platform = make_platform(broker="redis", redis=private_redis).start_all()
    _, token = participant
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    with PodiumClient(platform.url, token, timeout=30) as client:
        submitted = client.submit(competition.slug, config=path)
        entry = wait_final(client, [submitted["id"]], timeout=180, platform=platform)[submitted["id"]]
        rows = board(client, competition.slug)

    assert entry["status"] == "scored", entry
    assert 0.0 <= entry["public_score"] <= 1.0
    # Each variant's two epochs, said by variant, as the worker posted them.
    assert [(e["variant"], e["epoch"]) for e in entry["epochs"]] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert EpochMetric.objects.filter(submission_id=submitted["id"]).count() == 4

    report = entry["training_report"]["variants"]
    assert report["kind"] == "sweep" and report["select"] == "metric"
    values = [o["val_metric"]["value"] for o in report["outcomes"]]
    assert report["kept"] == max(range(2), key=lambda i: (values[i], -i))
    kept_label = report["outcomes"][report["kept"]]["label"]
    assert entry["training_report"]["notes"][0].startswith(
        f"the sweep trained 2 variants and kept variant {report['kept']} ({kept_label})"
    )

    # The weights uploaded are the kept variant's, with its own config.
    stored = Submission.objects.get(pk=submitted["id"])
    local = tmp_path / "weights.safetensors"
    with stored.weights.open("rb") as handle:
        local.write_bytes(handle.read())
    with safe_open(str(local), "pt") as f:
        lr = json.loads(f.metadata()["config"])["train"]["optimizer"]["lr"]
    assert f"lr={lr:g}" == kept_label
    assert [r["submission_id"] for r in rows] == [submitted["id"]]

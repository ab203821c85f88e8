"""An ablation end to end, with real processes (gunicorn, the scorer, the Django-free trainer,
a Redis broker): a participant's scored MLP entry is ablated through the API; the trainer
trains the baseline and each variant through the device pool on the training file less its
held-out rows, the platform scores the held-out predictions and pairs each variant with the
baseline, and the table and curves come back. The runs are not entries and reach no board."""

from __future__ import annotations

import time

import pytest

from podium_client.client import PodiumClient
from tests.e2e.helpers import TINY_CONFIG, board, wait_final

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_ablation(client: PodiumClient, ablation_id: int, *, timeout: float, platform) -> dict:
    deadline = time.monotonic() + timeout
    answer: dict = {}
    while time.monotonic() < deadline:
        answer = client.http.json("GET", f"/api/ablations/{ablation_id}/")
        if answer["status"] in ("done", "failed", "cancelled"):
            return answer
        time.sleep(0.25)
    rows = [(r["key"], r["status"], r["error"]) for r in answer.get("rows", [])]
    raise AssertionError(f"ablation not final after {timeout:.0f} s: {rows}\n{platform.logs()}")


def test_an_mlp_entry_is_ablated_by_the_real_trainer_and_its_table_scored(
    private_redis, make_platform, competition, participant, tmp_path
):
    from podium.lab.models import LabRun
    from podium.submissions.models import Submission

    # Three runs (the baseline and two variants), each charged the budget's 400 epochs.
    competition.lab_daily_epochs = 1200
    competition.save(update_fields=["lab_daily_epochs"])
    platform = make_platform(broker="redis", redis=private_redis).start_all()
    _, token = participant
    path = tmp_path / "mlp.yaml"
    path.write_text(TINY_CONFIG)
    with PodiumClient(platform.url, token, timeout=30) as client:
        submitted = client.submit(competition.slug, config=path)
        entry = wait_final(client, [submitted["id"]], timeout=180, platform=platform)[submitted["id"]]
        assert entry["status"] == "scored", entry

        options = client.http.json("GET", f"/api/submissions/{entry['id']}/ablations/options/")
        keys = [v["key"] for v in options["variants"]]
        chosen = ["activation:sigmoid", "optimizer:sgd"]
        assert set(chosen) <= set(keys), keys
        started = client.http.json(
            "POST", f"/api/submissions/{entry['id']}/ablations/", json={"variants": chosen}
        )
        table = wait_ablation(client, started["id"], timeout=240, platform=platform)
        rows_on_board = board(client, competition.slug)

    assert table["status"] == "done", table["rows"]
    rows = {r["key"]: r for r in table["rows"]}
    assert list(rows) == ["baseline", *chosen]
    for key, row in rows.items():
        assert 0.0 <= row["score"] <= 1.0, row
        low, high = row["score_ci"]
        assert low <= row["score"] <= high
        assert row["parameters"] == 4 * 16 + 16 + 16 * 3 + 3 and row["seconds"] > 0
        curve = table["curves"][key]
        assert curve["epochs"] == [1, 2] and len(curve["train_loss"]) == 2
        assert curve["grad_norms"] and all(len(v) == 2 for v in curve["grad_norms"].values())
        if key == "baseline":
            assert row["diff"] is None
        else:
            assert row["diff"] == pytest.approx(row["score"] - rows["baseline"]["score"])
            d_low, d_high = row["diff_ci"]
            assert d_low <= row["diff"] <= d_high
            assert row["beyond_noise"] == (d_low > 0 or d_high < 0)
    # Every run was trained with the held-out split and attempted once.
    runs = LabRun.objects.filter(ablation_id=table["id"])
    assert {(r.evaluate, r.holdout_fraction, r.attempt) for r in runs} == {("holdout", 0.2, 1)}
    assert all(r.report and r.report["environment"]["device"] for r in runs)
    # Not entries, not on the board.
    assert Submission.objects.filter(competition=competition).count() == 1
    assert [r["submission_id"] for r in rows_on_board] == [entry["id"]]

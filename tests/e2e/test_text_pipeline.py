"""A text competition end to end, with real processes: an organizer uploads review CSVs
through the HTTP API (the tokenizer is trained and the texts encoded at upload), a
participant submits a tokenizer-fed Transformer config, the Django-free worker trains it
from the token arrays it downloads (by sha256) and the scorer ranks it."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from datasets import textgen
from datasets.bundle import write_csv
from podium_client.client import PodiumClient
from tests.e2e.helpers import board, wait_final
from tests.factories.accounts import make_api_token, make_user
from tests.factories.competitions import make_competition

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRANSFORMER = """\
version: 1
seed: 0
model:
  layers:
    - embedding: {dim: 16}
    - transformer_encoder: {d_model: 16, heads: 2, depth: 1}
    - linear: {units: auto}
train:
  epochs: 2
  batch_size: 32
  optimizer: {name: adam, lr: 0.003}
"""


def _reviews(n: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(5)
    seen: dict[str, str] = {}
    while len(seen) < n:
        text, label = textgen._review(rng)
        seen.setdefault(text, textgen.CLASSES[label])
    return list(seen.items())


def _csv(rows: list[tuple[str, str]], start: int) -> bytes:
    return write_csv(["id", "review", "sentiment"], ([str(start + i), t, y] for i, (t, y) in enumerate(rows)))


def test_text_upload_then_transformer_entry_is_trained_and_ranked(private_redis, make_platform, tmp_path):
    from podium.competitions.models import Dataset

    platform = make_platform(broker="redis", redis=private_redis).start_all()
    organizer = make_user("olga", is_staff=True)
    rows = _reviews(240)
    with httpx.Client(
        base_url=platform.url, headers={"Authorization": f"Token {make_api_token(organizer)}"}
    ) as http:
        answer = http.post(
            "/api/datasets/",
            data={
                "slug": "reviews-e2e",
                "title": "Reviews",
                "task_type": "classification",
                "target_column": "sentiment",
                "text_column": "review",
                "vocab_size": "200",
                "max_length": "64",
            },
            files={
                "train_file": ("train.csv", _csv(rows[:180], 0), "text/csv"),
                "test_file": ("test.csv", _csv(rows[180:], 1000), "text/csv"),
            },
            timeout=120,
        )
    assert answer.status_code == 201, answer.text
    dataset = Dataset.objects.get(slug="reviews-e2e")
    competition = make_competition("reviews-cup", dataset=dataset, budget_epochs=10, budget_seconds=120)
    participant = make_user("pat")
    from podium.competitions.services import competition_join

    competition_join(competition=competition, user=participant)
    config = tmp_path / "transformer.yaml"
    config.write_text(TRANSFORMER)
    with PodiumClient(platform.url, make_api_token(participant), timeout=30) as client:
        entry = client.submit(competition.slug, config=config)
        final = wait_final(client, [entry["id"]], timeout=180, platform=platform)[entry["id"]]
        rows_on_board = board(client, competition.slug)
    assert final["status"] == "scored", final
    assert [e["epoch"] for e in final["epochs"]] == [1, 2]
    assert 0.0 <= final["public_score"] <= 1.0
    assert [r["submission_id"] for r in rows_on_board] == [entry["id"]]
    # The worker trained from the token arrays it cached by content, never from the texts.
    cached = {p.name for p in (platform.tmp / "var" / "worker-cache").rglob("*") if p.is_file()}
    tokens_sha = dataset.manifest["files"]["train_tokens.npy"]["sha256"]
    assert any(tokens_sha in name for name in cached), cached

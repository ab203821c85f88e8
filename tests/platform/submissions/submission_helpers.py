"""Builders shared by the submission tests (a real built-in dataset, competitions, files)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone


def make_dataset(slug: str = "iris"):
    from podium.competitions.services import dataset_import_builtin

    return dataset_import_builtin(slug=slug)


def make_competition(*, dataset=None, slug="iris-cup", metric=None, **fields):
    """A competition made by the platform's own service (answer key and split included)."""
    from podium.competitions.services import competition_create

    dataset = dataset or make_dataset()
    now = timezone.now()
    values = {
        "title": f"{slug} competition",
        "metric": metric or dataset.manifest.get("metric", "accuracy"),
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=7),
        "daily_limit": 5,
    }
    values.update(fields)
    return competition_create(dataset=dataset, slug=slug, **values)


def join(competition, *users) -> None:
    from podium.competitions.models import Participation

    for user in users:
        Participation.objects.get_or_create(
            competition=competition, user=user, defaults={"accepted_rules_at": timezone.now()}
        )


def competition_test_ids(competition) -> list[str]:
    import csv
    import io

    rows = competition.dataset.files.get(name="test.csv").file.open("rb").read().decode()
    return [r["id"] for r in csv.DictReader(io.StringIO(rows))]


def predictions_csv(competition, *, label: str | None = None, drop: int = 0) -> bytes:
    manifest = competition.dataset.manifest
    ids = competition_test_ids(competition)[drop:]
    label = label or manifest["classes"][0]
    return ("id,target\n" + "".join(f"{i},{label}\n" for i in ids)).encode()


TINY_CONFIG = """
version: 1
seed: 0
model:
  layers:
    - linear: {units: 8}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 2
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""

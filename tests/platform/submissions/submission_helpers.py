"""Builders shared by the submission tests (a real built-in dataset, competitions, files)."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from datasets import catalog


def make_dataset(slug: str = "iris"):
    from podium.competitions.models import Dataset, DatasetFile

    bundle = catalog.build(slug)
    m = bundle.manifest
    dataset = Dataset.objects.create(
        slug=m["slug"],
        version=m["version"],
        title=m["title"],
        description=m["description"],
        license=m["license"],
        task_type=m["task_type"],
        manifest=m,
    )
    for name, data in bundle.files.items():
        entry = m["files"][name]
        DatasetFile.objects.create(
            dataset=dataset,
            name=name,
            file=ContentFile(data, name=name),
            sha256=entry["sha256"],
            size=entry["size"],
            hidden=entry["hidden"],
        )
    return dataset


def make_competition(*, dataset=None, slug="iris-cup", metric=None, **fields):
    from podium.competitions.models import Competition

    dataset = dataset or make_dataset()
    now = timezone.now()
    values = {
        "title": f"{slug} competition",
        "task_type": dataset.task_type,
        "metric": metric or dataset.manifest.get("metric", "accuracy"),
        "higher_is_better": True,
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=7),
        "daily_limit": 5,
    }
    values.update(fields)
    competition = Competition.objects.create(slug=slug, dataset=dataset, **values)
    _prepare_answer_key(competition)
    return competition


def _prepare_answer_key(competition) -> None:
    try:
        from podium.competitions.services import competition_build_answer_key
    except ImportError:
        return
    competition_build_answer_key(competition=competition)


def join(competition, *users) -> None:
    from podium.competitions.models import Participation

    for user in users:
        Participation.objects.get_or_create(
            competition=competition, user=user, defaults={"accepted_rules_at": timezone.now()}
        )


def test_ids(competition) -> list[str]:
    import csv
    import io

    rows = competition.dataset.files.get(name="test.csv").file.open("rb").read().decode()
    return [r["id"] for r in csv.DictReader(io.StringIO(rows))]


def predictions_csv(competition, *, label: str | None = None, drop: int = 0) -> bytes:
    manifest = competition.dataset.manifest
    ids = test_ids(competition)[drop:]
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

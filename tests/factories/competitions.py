"""Datasets, competitions and participations."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from django.utils import timezone

_bare = count(1)


def make_dataset(slug: str = "iris"):
    """A built-in dataset, imported the way an admin imports it (idempotent per slug)."""
    from podium.competitions.services import dataset_import_builtin

    return dataset_import_builtin(slug=slug)


def make_competition(slug: str = "iris-cup", *, dataset="iris", starts: int = -1, ends: int = 7, **fields):
    """A competition made by the platform's own service (answer key and split included).

    `dataset`: a built-in dataset's slug or a Dataset; `starts`/`ends`: days from now."""
    from podium.competitions.services import competition_create

    if isinstance(dataset, str):
        dataset = make_dataset(dataset)
    now = timezone.now()
    fields.setdefault("title", f"{slug} title")
    fields.setdefault("metric", dataset.manifest.get("metric", "accuracy"))
    return competition_create(
        dataset=dataset,
        slug=slug,
        starts_at=now + timedelta(days=starts),
        ends_at=now + timedelta(days=ends),
        **fields,
    )


def make_bare_competition(**fields):
    """A competition row on a dataset without files: no answer key, nothing to score against.
    For board and team tests, which set the scores themselves and need it fast."""
    from podium.competitions.models import Competition, Dataset

    n = next(_bare)
    dataset = Dataset.objects.create(
        slug=f"ds-{n}", title="Data", task_type="classification", manifest={"slug": f"ds-{n}"}
    )
    now = timezone.now()
    values = dict(
        slug=f"comp-{n}",
        title=f"Competition {n}",
        dataset=dataset,
        task_type="classification",
        metric="accuracy",
        higher_is_better=True,
        starts_at=now - timedelta(days=3),
        ends_at=now + timedelta(days=3),
        daily_limit=5,
        max_final_picks=2,
    )
    values.update(fields)
    from podium.competitions.services import phase_create_default

    competition = Competition.objects.create(**values)
    phase_create_default(competition=competition)
    return competition


def make_participations(competition, *users) -> None:
    """Each user has joined the competition and accepted its rules."""
    from podium.competitions.models import Participation

    for user in users:
        Participation.objects.get_or_create(
            competition=competition, user=user, defaults={"accepted_rules_at": timezone.now()}
        )

"""Competitions made the way an admin makes them: through the services."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone


def make_competition(slug="iris-cup", *, dataset="iris", starts=-1, ends=7, _dataset=None, **fields):
    from podium.competitions.services import competition_create, dataset_import_builtin

    now = timezone.now()
    fields.setdefault("title", f"{slug} title")
    fields.setdefault("metric", "accuracy")
    return competition_create(
        dataset=_dataset or dataset_import_builtin(slug=dataset),
        slug=slug,
        starts_at=now + timedelta(days=starts),
        ends_at=now + timedelta(days=ends),
        **fields,
    )


def media_files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def hidden_label_lines(dataset) -> list[bytes]:
    """The `id,label` lines of a dataset's hidden test labels."""
    with dataset.files.get(name="test_labels.csv").file.open("rb") as fh:
        return fh.read().splitlines()[1:]

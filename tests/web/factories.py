"""Test data for the browser tests, made through the platform's own services where they exist."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

TRAIN = "id,x1,x2,label\n" + "".join(
    f"{i},{i % 7 / 7:.3f},{i % 3 / 3:.3f},{'ab'[i % 2]}\n" for i in range(40)
)
TEST = "id,x1,x2\n" + "".join(f"{i},{i % 5 / 5:.3f},{i % 4 / 4:.3f}\n" for i in range(100, 120))
SAMPLE = "id,label\n" + "".join(f"{i},a\n" for i in range(100, 120))
LABELS = "id,label\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(100, 120))


def plain_competition(slug="toy-tabular", title="Toy tabular", *, starts=-1, ends=7, **extra):
    """A small classification competition stored directly (until a creation service exists)."""
    from podium.competitions.models import Competition, Dataset

    files = {"train.csv": TRAIN, "test.csv": TEST, "sample_submission.csv": SAMPLE, "test_labels.csv": LABELS}
    manifest = {
        "slug": slug,
        "version": 1,
        "title": f"{title} data",
        "description": "Two features, two classes.",
        "license": "CC0-1.0",
        "task_type": "classification",
        "id_column": "id",
        "target": "label",
        "features": ["x1", "x2"],
        "input_shape": [2],
        "classes": ["a", "b"],
        "rows": {"train": 40, "test": 20},
        "split_seed": 0,
        "files": {
            n: {
                "sha256": hashlib.sha256(t.encode()).hexdigest(),
                "size": len(t),
                "hidden": n == "test_labels.csv",
            }
            for n, t in files.items()
        },
    }
    dataset = Dataset.objects.create(
        slug=slug, title=manifest["title"], task_type="classification", manifest=manifest, license="CC0-1.0"
    )
    for name, text in files.items():
        f = dataset.files.model(
            dataset=dataset,
            name=name,
            sha256=manifest["files"][name]["sha256"],
            size=len(text),
            hidden=name == "test_labels.csv",
        )
        f.file.save(name, ContentFile(text.encode()), save=True)
    now = timezone.now()
    return Competition.objects.create(
        slug=slug,
        title=title,
        overview="# Welcome\n\nPredict the **label**.\n\n<script>alert(1)</script>",
        dataset=dataset,
        task_type="classification",
        metric="accuracy",
        higher_is_better=True,
        starts_at=now + timedelta(days=starts),
        ends_at=now + timedelta(days=ends),
        **extra,
    )

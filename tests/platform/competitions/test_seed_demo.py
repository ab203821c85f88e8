from __future__ import annotations

import pytest
from django.core.management import call_command

from podium.competitions.models import Competition, Dataset, DatasetFile

pytestmark = pytest.mark.django_db


def test_seed_demo_twice_creates_nothing_twice(capsys, anon_api):
    from datasets.catalog import BUILTINS
    from podium.accounts.models import User

    call_command("seed_demo")
    first = capsys.readouterr().out
    assert "username=admin password=podium-admin" in first
    assert "username=demo password=podium-demo" in first
    counts = (
        Dataset.objects.count(),
        DatasetFile.objects.count(),
        Competition.objects.count(),
        User.objects.count(),
    )
    call_command("seed_demo")
    assert "(0 new)" in capsys.readouterr().out
    assert counts == (
        Dataset.objects.count(),
        DatasetFile.objects.count(),
        Competition.objects.count(),
        User.objects.count(),
    )
    assert counts[0] == len(BUILTINS)
    assert counts[2] >= 7
    listed = anon_api.get("/api/competitions/?status=open&page_size=100").json()
    assert listed["count"] == counts[2]
    metrics = {r["slug"]: r["metric"] for r in listed["results"]}
    assert metrics["digits"] == "accuracy" and metrics["diabetes"] == "rmse"
    fewshot = Competition.objects.get(slug="digits-faded-fewshot")
    assert [d.slug for d in fewshot.pretrain_datasets.all()] == ["digits"]
    shapes = Competition.objects.get(slug="shapes-32")
    assert shapes.dataset.manifest["input_shape"] == [3, 32, 32] and shapes.budget_epochs == 40
    assert "train_images.zip" in shapes.overview and "train.augment" in shapes.overview
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.check_password("podium-admin")
    demo = User.objects.get(username="demo")
    assert not demo.is_staff and demo.check_password("podium-demo")

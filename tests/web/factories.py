"""Test data for the browser tests, made through the platform's own services."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone


def competition(slug="iris-cup", title="Iris cup", *, dataset="iris", starts=-1, ends=7, **extra):
    """A competition on a built-in dataset, created the way an admin creates one."""
    from podium.competitions.services import competition_create, dataset_import_builtin

    now = timezone.now()
    fields = {
        "overview": "# Welcome\n\nPredict the **species**.\n\n<script>alert(1)</script>",
        "rules": "Be kind. One account per person.",
        "metric": "accuracy",
        "budget_epochs": 8,
        **extra,
    }
    return competition_create(
        dataset=dataset_import_builtin(slug=dataset),
        slug=slug,
        title=title,
        starts_at=now + timedelta(days=starts),
        ends_at=now + timedelta(days=ends),
        **fields,
    )

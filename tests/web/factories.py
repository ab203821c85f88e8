"""The web suite's competition: page texts with markup to render (and a script to escape)
and a training budget, on top of tests/factories/competitions.py."""

from __future__ import annotations

from tests.factories.competitions import make_competition

PAGE_FIELDS = {
    "overview": "# Welcome\n\nPredict the **species**.\n\n<script>alert(1)</script>",
    "rules": "Be kind. One account per person.",
    "budget_epochs": 8,
}


def competition(slug="iris-cup", title="Iris cup", **fields):
    return make_competition(slug, title=title, **{**PAGE_FIELDS, **fields})

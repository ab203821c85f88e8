"""Staff: create a competition from uploaded CSVs or a built-in dataset, see the validation
report, and publish."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from podium.web import deps


@staff_member_required
def new_competition(request):
    ctx = {"nav": "staff"}
    try:
        deps.get("podium.competitions.services", "competition_create")
    except deps.Missing as exc:
        ctx["missing"] = exc.what
    return render(request, "web/staff/new_competition.html", ctx)

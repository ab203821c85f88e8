"""Pages anyone may see: the competition list and the public tabs of a competition."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from podium.competitions import selectors, services
from podium.competitions.metric_choice import scoring_rules
from podium.errors import ApplicationError, page_message
from podium.web import data_tab
from podium.web.templatetags.podium_web import phase
from podium.web.views.common import competition_context


def home(request):
    groups = {"open": [], "upcoming": [], "past": []}
    for competition in selectors.competition_list(user=request.user):
        groups[phase(competition)].append(competition)
    groups["upcoming"].sort(key=lambda c: c.starts_at)
    groups["open"].sort(key=lambda c: (c.ends_at is None, c.ends_at or c.starts_at))  # no end: last
    sections = [
        ("open", "Open now", "Deadline soonest first."),
        ("upcoming", "Upcoming", "Opening soon."),
        ("past", "Past", "Closed; final standings are on the private board."),
    ]
    return render(request, "web/home.html", {"groups": groups, "sections": sections, "nav": "competitions"})


def overview(request, slug):
    ctx = competition_context(request, slug, "overview")
    return render(request, "web/competition/overview.html", ctx)


def data(request, slug):
    ctx = competition_context(request, slug, "data")
    competition = ctx["competition"]
    dataset = ctx["current_phase"].dataset  # a phase with its own test split has its own files
    manifest = selectors.public_manifest(dataset)
    ctx["manifest"] = manifest
    ctx["can_download"] = selectors.competition_can_download(competition=competition, user=request.user)
    ctx["manifest_json"] = json.dumps(manifest, indent=2, sort_keys=True)
    ctx["files"] = list(selectors.dataset_public_files(dataset=dataset))
    ctx["columns"], ctx["column_count"] = data_tab.columns(manifest)
    # The rows themselves are behind the same rule as the downloads.
    ctx["preview"] = data_tab.preview(dataset) if ctx["can_download"] else None
    return render(request, "web/competition/data.html", ctx)


def rules(request, slug):
    ctx = competition_context(request, slug, "rules")
    ctx["next_reset"] = selectors.next_daily_reset()
    ctx["scoring"] = scoring_rules(ctx["competition"])
    return render(request, "web/competition/rules.html", ctx)


def _join_to_download(request, competition, what: str):
    # The reason and the way on, on a page of the site (not a bare "403 Forbidden").
    context = {
        "status": 403,
        "title": "Join to download the data",
        "detail": f"Join {competition.title} and accept its rules to download {what}.",
        "next_url": reverse("web:competition_rules", args=[competition.slug]),
        "next_label": "Read the rules and join",
    }
    return render(request, "403.html", context, status=403)


@login_required
def download(request, slug, name):
    competition = selectors.competition_get(slug=slug, user=request.user)
    if not selectors.competition_can_download(competition=competition, user=request.user):
        return _join_to_download(request, competition, name)
    dataset = selectors.competition_phase(competition=competition).dataset
    found = selectors.dataset_public_file(dataset=dataset, name=name)  # Http404 for hidden names
    return FileResponse(found.file.open("rb"), as_attachment=True, filename=name, content_type="text/csv")


@login_required
def download_all(request, slug):
    """Every public file of the competition's dataset as one zip, for participants and staff."""
    competition = selectors.competition_get(slug=slug, user=request.user)
    if not selectors.competition_can_download(competition=competition, user=request.user):
        return _join_to_download(request, competition, "the data")
    dataset = selectors.competition_phase(competition=competition).dataset  # the current phase's files
    return FileResponse(
        data_tab.zip_of_public_files(dataset),
        as_attachment=True,
        filename=f"{competition.slug}-{dataset.slug}-v{dataset.version}.zip",
        content_type="application/zip",
    )


@login_required
@require_POST
def join(request, slug):
    competition = selectors.competition_get(slug=slug, user=request.user)
    if request.POST.get("accept_rules") != "on":
        messages.error(request, "Tick “I accept the rules” to join.")
        if request.POST.get("next") == "submit":
            return redirect("web:submit", slug=slug)
        return redirect("web:competition_rules", slug=slug)
    try:
        services.competition_join(competition=competition, user=request.user)
    except ApplicationError as exc:
        page_message(request, exc)
        return redirect("web:competition", slug=slug)
    messages.success(request, f"You joined {competition.title}. Good luck!")
    # Joined from the Submit tab: back there; from the rules: on to the data.
    if request.POST.get("next") == "submit":
        return redirect("web:submit", slug=slug)
    return redirect("web:competition_data", slug=slug)

"""Pages anyone may see: the competition list and the public tabs of a competition."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from podium.web import deps, sources
from podium.web.templatetags.podium_web import phase
from podium.web.views.common import competition_context


def home(request):
    groups = {"open": [], "upcoming": [], "past": []}
    for competition in sources.competitions_for(request.user):
        groups[phase(competition)].append(competition)
    groups["upcoming"].sort(key=lambda c: c.starts_at)
    groups["open"].sort(key=lambda c: c.ends_at)
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
    manifest = sources.public_manifest(ctx["competition"])
    ctx["manifest"] = manifest
    ctx["can_download"] = sources.can_download(ctx["competition"], request.user)
    ctx["manifest_json"] = json.dumps(manifest, indent=2, sort_keys=True)
    ctx["files"] = sources.public_files(ctx["competition"])
    return render(request, "web/competition/data.html", ctx)


def rules(request, slug):
    ctx = competition_context(request, slug, "rules")
    ctx["next_reset"] = sources.next_daily_reset()
    return render(request, "web/competition/rules.html", ctx)


@login_required
def download(request, slug, name):
    competition = sources.competition_for(slug, request.user)
    handle = sources.open_file(competition, name, request.user)
    return FileResponse(handle, as_attachment=True, filename=name, content_type="text/csv")


@login_required
@require_POST
def join(request, slug):
    competition = sources.competition_for(slug, request.user)
    if request.POST.get("accept_rules") != "on":
        messages.error(request, "Tick “I accept the rules” to join.")
        return redirect("web:competition_rules", slug=slug)
    try:
        sources.join(competition, request.user)
    except deps.Missing:
        messages.error(request, "Joining is not available yet on this server.")
        return redirect("web:competition", slug=slug)
    except Exception as exc:  # the service's refusal (closed, already joined) is shown, not swallowed
        if exc.__class__.__name__ in {"ValidationError", "JoinRefused", "PermissionDenied"}:
            messages.error(request, _message(exc))
            return redirect("web:competition", slug=slug)
        raise
    messages.success(request, f"You joined {competition.title}. Good luck!")
    return redirect("web:competition_data", slug=slug)


def _message(exc) -> str:
    msgs = getattr(exc, "messages", None)
    if msgs:
        return " ".join(str(m) for m in msgs)
    return str(exc)

"""A team's card on My submissions: leave the team, accept or decline a request to join."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from podium.competitions.selectors import competition_get
from podium.errors import ApplicationError, page_message
from podium.teams import services


@login_required
@require_POST
def team_leave(request, slug):
    competition = competition_get(slug=slug, user=request.user)
    try:
        services.team_leave(user=request.user, competition=competition)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, "You left the team; you compete alone again.")
    return redirect("web:my_submissions", slug=slug)


@login_required
@require_POST
def team_request_accept(request, slug, request_id):
    competition_get(slug=slug, user=request.user)
    try:
        team = services.team_join_accept(request_id=request_id, member=request.user)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, f"Request accepted: team {team} has a new member.")
    return redirect("web:my_submissions", slug=slug)


@login_required
@require_POST
def team_request_decline(request, slug, request_id):
    competition_get(slug=slug, user=request.user)
    try:
        services.team_join_decline(request_id=request_id, member=request.user)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, "Request declined.")
    return redirect("web:my_submissions", slug=slug)

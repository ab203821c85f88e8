"""Sign up, the account page, API tokens and teams."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from podium.web import deps, sources
from podium.web.forms import SignupForm, TeamJoinForm, TokenForm
from podium.web.views.public import _message


def _safe_next(request) -> str | None:
    nxt = request.POST.get("next") or request.GET.get("next")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return None


def signup(request):
    if request.user.is_authenticated:
        return redirect("web:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = sources.user_create(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Podium, {user.username}!")
        return redirect(_safe_next(request) or "web:home")
    return render(request, "web/account/signup.html", {"form": form, "next": _safe_next(request) or ""})


@login_required
def account(request):
    ctx = {"nav": "account", "token_form": TokenForm(), "team_join_form": TeamJoinForm()}
    try:
        ctx["tokens"] = sources.tokens_of(request.user)
    except deps.Missing as exc:
        ctx["tokens_missing"] = exc.what
    try:
        ctx["teams"] = sources.teams_of(request.user)
    except deps.Missing as exc:
        ctx["teams_missing"] = exc.what
    ctx["new_key"] = request.session.pop("new_token_key", None)
    return render(request, "web/account/account.html", ctx)


@login_required
@require_POST
def token_create(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name (up to 80 characters).")
        return redirect("web:account")
    try:
        key = sources.token_create(request.user, form.cleaned_data["name"])
    except deps.Missing:
        messages.error(request, "API tokens are not available on this server yet.")
        return redirect("web:account")
    # Shown once on the next page, then gone: only its hash is stored.
    request.session["new_token_key"] = key
    return redirect("web:account")


@login_required
@require_POST
def token_revoke(request, token_id: int):
    try:
        sources.token_revoke(request.user, token_id)
    except ObjectDoesNotExist:
        raise Http404("No such token")
    except deps.Missing:
        messages.error(request, "API tokens are not available on this server yet.")
    else:
        messages.success(request, "Token revoked.")
    return redirect("web:account")


@login_required
@require_POST
def team_join(request):
    form = TeamJoinForm(request.POST)
    if form.is_valid():
        try:
            team = sources.team_join(request.user, form.cleaned_data["code"])
        except deps.Missing:
            messages.error(request, "Teams are not available on this server yet.")
        except Exception as exc:
            if exc.__class__.__name__ not in {
                "ApplicationError",
                "ValidationError",
                "ServiceError",
                "PermissionDenied",
            }:
                raise
            messages.error(request, _message(exc))
        else:
            messages.success(request, f"You joined team {team}.")
    return redirect("web:account")


@login_required
@require_POST
def team_create(request, slug):
    competition = sources.competition_for(slug, request.user)
    name = (request.POST.get("name") or "").strip()
    if not name:
        messages.error(request, "Give the team a name.")
        return redirect("web:my_submissions", slug=slug)
    try:
        team = sources.team_create(request.user, competition, name)
    except deps.Missing:
        messages.error(request, "Teams are not available on this server yet.")
    except Exception as exc:
        if exc.__class__.__name__ not in {
            "ApplicationError",
            "ValidationError",
            "ServiceError",
            "PermissionDenied",
        }:
            raise
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"Team {team} created. Share its join code: {team.join_code}")
    return redirect("web:my_submissions", slug=slug)


@login_required
def password_changed(request):
    messages.success(request, "Your password was changed.")
    return redirect("web:account")

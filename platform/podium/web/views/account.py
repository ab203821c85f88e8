"""Sign up, the login lockout, the account page, API tokens and teams."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import slug_re
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from podium.accounts import selectors, services
from podium.accounts.lockout import login_lockout_error
from podium.accounts.models import ApiToken
from podium.competitions.selectors import competition_get
from podium.errors import ApplicationError, page_message
from podium.mail import selectors as mail_selectors
from podium.mail import services as mail_services
from podium.mail.models import SWITCHABLE
from podium.teams import selectors as team_selectors
from podium.teams import services as team_services
from podium.web.forms import MailPreferencesForm, SignupForm, TeamJoinForm, TokenForm


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
        user = services.user_create(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        mail_services.mail_verification_request(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            f"Welcome to Podium, {user.username}! We sent a link to {user.email}: open it to confirm "
            "the address, and Podium will mail you when your entries are scored.",
        )
        return redirect(_safe_next(request) or "web:home")
    return render(request, "web/account/signup.html", {"form": form, "next": _safe_next(request) or ""})


def login_locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE, for every login axes guards (this site's, the admin's): the
    login page again with the reason, or the error's JSON body for a script; 429 and Retry-After."""
    error = login_lockout_error()
    if request.path_info.startswith("/api/") or request.headers.get("x-requested-with") == "XMLHttpRequest":
        response = JsonResponse(error.body(), status=error.status_code)
    else:
        page_message(request, error)
        username = (credentials or {}).get("username", "")
        form = AuthenticationForm(request, initial={"username": username})
        context = {"form": form, "next": _safe_next(request) or ""}
        response = render(request, "web/account/login.html", context, status=error.status_code)
    response["Retry-After"] = str(error.retry_after)
    return response


@login_required
def account(request):
    ctx = {
        "nav": "account",
        "token_form": TokenForm(),
        "team_join_form": TeamJoinForm(),
        "tokens": list(selectors.api_token_list(user=request.user)),
        "teams": list(team_selectors.team_list_for_user(user=request.user)),
        "new_key": request.session.pop("new_token_key", None),
        **_mail_context(request.user),
    }
    return render(request, "web/account/account.html", ctx)


@login_required
@require_POST
def token_create(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name (up to 80 characters).")
        return redirect("web:account")
    try:
        _token, key = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
    except ValidationError as exc:
        page_message(request, exc)
        return redirect("web:account")
    # Shown once on the next page, then gone: only its hash is stored.
    request.session["new_token_key"] = key
    return redirect("web:account")


@login_required
@require_POST
def token_revoke(request, token_id: int):
    try:
        services.api_token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token") from None
    messages.success(request, "Token revoked.")
    return redirect("web:account")


@login_required
@require_POST
def team_join(request):
    """Ask to join a team with its code; a member of the team accepts on My submissions."""
    form = TeamJoinForm(request.POST)
    if form.is_valid():
        try:
            asked = team_services.team_join_request(user=request.user, join_code=form.cleaned_data["code"])
        except ApplicationError as exc:
            page_message(request, exc)
        else:
            messages.success(
                request, f"You asked to join team {asked.team}. A member of the team accepts the request."
            )
    # Asked from a competition's My submissions (its slug comes with the form): back there.
    slug = request.POST.get("slug") or ""
    if slug_re.match(slug):
        return redirect("web:my_submissions", slug=slug)
    return redirect("web:account")


@login_required
@require_POST
def team_create(request, slug):
    competition = competition_get(slug=slug, user=request.user)
    name = (request.POST.get("name") or "").strip()
    if not name:
        messages.error(request, "Give the team a name.")
        return redirect("web:my_submissions", slug=slug)
    try:
        team = team_services.team_create(user=request.user, competition=competition, name=name)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, f"Team {team} created. Share its join code: {team.join_code}")
    return redirect("web:my_submissions", slug=slug)


@login_required
def password_changed(request):
    messages.success(request, "Your password was changed.")
    return redirect("web:account")


def _mail_context(user) -> dict:
    prefs = mail_selectors.mail_preferences_for(user=user)
    return {
        "mail_form": MailPreferencesForm(initial={k.value: prefs.wants(k.value) for k in SWITCHABLE}),
        "email_verified": mail_selectors.email_verified(user=user),
    }


@login_required
@require_POST
def mail_preferences(request):
    form = MailPreferencesForm(request.POST)
    form.is_valid()  # unticked boxes are absent, so every submission is valid
    mail_services.mail_preferences_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Your mail choices are saved.")
    return redirect(reverse("web:account") + "#email")


@login_required
@require_POST
def email_verification_request(request):
    try:
        mail_services.mail_verification_request(user=request.user)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, f"We sent a new confirmation link to {request.user.email}.")
    return redirect(reverse("web:account") + "#email")


def email_verify(request, token: str):
    """A confirmation link: works signed in or not (people open mails on another device)."""
    try:
        user = mail_services.email_verify(token=token)
    except ApplicationError as exc:
        page_message(request, exc)
        return redirect(reverse("web:account") + "#email" if request.user.is_authenticated else "web:login")
    messages.success(request, f"Thank you: {user.email} is confirmed.")
    return redirect(reverse("web:account") + "#email" if request.user.is_authenticated else "web:login")

"""Writes of accounts: users and API tokens (teams live in podium.teams)."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from podium.accounts.authentication import hash_token_key
from podium.accounts.models import ApiToken, User

TOKEN_PREFIX = "pdm_"
MAX_ACTIVE_TOKENS = 20


@transaction.atomic
def user_create(*, username: str, email: str = "", password: str | None = None, **extra) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"the username {username!r} is taken"})
    user = User(username=username, email=email, **extra)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token and its key. Only the key's hash is stored, so this is the one chance to show it."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "give the token a name (e.g. the machine that uses it)"})
    if len(name) > 80:
        raise ValidationError({"name": "at most 80 characters"})
    # Lock the user's row so two concurrent creations cannot both pass the cap.
    User.objects.select_for_update().filter(pk=user.pk).first()
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE_TOKENS:
        raise ValidationError({"name": f"you already have {active} active tokens; revoke one first"})
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:12], key_hash=hash_token_key(key))
    return token, key


@transaction.atomic
def api_token_revoke(*, user, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens; revoking twice is harmless. Others' tokens: DoesNotExist."""
    token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token

"""Users and API tokens."""

from __future__ import annotations

import secrets

PASSWORD = "correct-horse-battery"


def make_user(username: str, **fields):
    from django.contrib.auth import get_user_model

    fields.setdefault("email", f"{username}@example.com")
    fields.setdefault("password", PASSWORD)
    return get_user_model().objects.create_user(username=username, **fields)


def make_api_token(user, key: str | None = None, *, name: str = "cli") -> str:
    """An API token for `user`; returns its key (only the hash is stored, as the accounts app does)."""
    from podium.accounts.authentication import hash_token_key
    from podium.accounts.models import ApiToken

    key = key or secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=key[:8], key_hash=hash_token_key(key))
    return key

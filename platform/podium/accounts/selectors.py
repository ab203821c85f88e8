"""Reads of accounts, filtered by who asks."""

from __future__ import annotations

from django.db.models import QuerySet

from podium.accounts.models import ApiToken


def api_token_list(*, user, include_revoked: bool = False) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first; nobody sees another person's tokens."""
    if user is None or not user.is_authenticated:
        return ApiToken.objects.none()
    qs = ApiToken.objects.filter(user=user)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True)
    return qs


def api_token_get(*, user, token_id: int) -> ApiToken | None:
    return api_token_list(user=user, include_revoked=True).filter(pk=token_id).first()

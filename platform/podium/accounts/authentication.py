"""`Authorization: Token <key>` for scripts and the CLI, checked against stored hashes; an
address whose keys keep failing is refused before any lookup (`FailedTokenThrottle`)."""

from __future__ import annotations

import hashlib

from django.utils import timezone
from rest_framework import authentication, exceptions

from podium.accounts.models import ApiToken
from podium.accounts.throttling import FailedTokenThrottle


def hash_token_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # another scheme, or none: not a token attempt
        failures = FailedTokenThrottle()
        failures.refuse_if_blocked(request)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.record_failure(request)
            raise

    def authenticate_credentials(self, key):
        # get(), not first(): a unique key needs no ORDER BY, whose compiling is a fair share
        # of a small request's CPU.
        try:
            token = ApiToken.objects.select_related("user").get(
                key_hash=hash_token_key(key), revoked_at__isnull=True
            )
        except ApiToken.DoesNotExist:
            token = None
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        now = timezone.now()
        # Touch last_used_at at most once a minute: a hot API client must not write on every call.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

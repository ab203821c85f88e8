"""Rate limits per client: who a client is, and the cache-backed throttles of the API.

Failed logins are django-axes' (settings: `AXES_*`); it asks `client_address` too, so a
login lockout and an API throttle count the same address. Every counter lives in the
default cache: local memory on one machine, Redis (`CACHE_URL`) when several processes or
machines must share the counts.
"""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# "10/15m": 10 per 15 minutes. DRF's own format ("10/m") cannot say a window of 15 minutes.
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")


def client_address(request) -> str:
    """The address a request came from: REMOTE_ADDR, or behind `PODIUM_PROXY_COUNT` proxies
    the address the outermost of them saw. Never the left end of X-Forwarded-For, which the
    client writes itself and could change on every guess."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.PODIUM_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if hops == 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",")]
    return addresses[-min(hops, len(addresses))]


def parse_rate(rate: str) -> tuple[int, int]:
    """'N/<k><unit>' (unit s, m, h or d; k defaults to 1) -> (N, window in seconds)."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"rate {rate!r}: write it as N/<k><unit>, e.g. 60/1m or 10/15m (units s, m, h, d)")
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count < 1 or multiple < 1:
        raise ValueError(f"rate {rate!r}: both the number and the window must be at least 1")
    return count, multiple * _UNIT_SECONDS[unit]


class SettingRateThrottle(SimpleRateThrottle):
    """A DRF throttle whose rate is the setting named by `rate_setting`, read when a request
    comes, so that an operator's variable and a test's lower limit both apply."""

    rate_setting: str

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)

    def parse_rate(self, rate):
        return parse_rate(rate)

    def get_ident(self, request) -> str:
        return client_address(request)


class TokenGuessingThrottled(exceptions.Throttled):
    default_detail = "Too many failed API token attempts from this address."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


class FailedTokenThrottle(SettingRateThrottle):
    """Failed `Authorization: Token …` attempts per address (`PODIUM_TOKEN_FAILURE_RATE`).

    Only failures count, so the authentication asks it before looking a key up (a blocked
    address learns nothing about its guesses) and tells it after a failure."""

    scope = "token-failures"
    rate_setting = "PODIUM_TOKEN_FAILURE_RATE"

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _recent(self, request) -> list[float]:
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return self.history

    def refuse_if_blocked(self, request) -> None:
        """Raise TokenGuessingThrottled (429, Retry-After) when the address used up its failures."""
        history = self._recent(request)
        if len(history) >= self.num_requests:
            # Newest first: a failure leaves the window when the N-th newest expires.
            raise TokenGuessingThrottled(wait=history[self.num_requests - 1] + self.duration - self.now)

    def record_failure(self, request) -> None:
        history = self._recent(request)
        history.insert(0, self.now)
        # The N newest are all the check reads; older ones need not be kept.
        self.cache.set(self.key, history[: self.num_requests], self.duration)

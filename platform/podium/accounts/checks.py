"""System checks of the accounts app's settings: a bad rate fails at start-up, not on a request."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from podium.accounts.throttling import parse_rate

RATE_SETTINGS = ("PODIUM_TOKEN_FAILURE_RATE", "PODIUM_INTAKE_RATE")


@checks.register(checks.Tags.security)
def check_rates(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for name in RATE_SETTINGS:
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="accounts.E001"))
    return errors

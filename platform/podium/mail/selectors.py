"""Reads of mail choices and of who is told what, each for the person it concerns."""

from __future__ import annotations

from django.db.models import QuerySet

from podium.competitions.models import Competition, Participation
from podium.mail.models import MailPreferences


def mail_preferences_for(*, user) -> MailPreferences:
    """The person's choices; a fresh (unsaved) row with every kind on when they never chose."""
    found = MailPreferences.objects.filter(user=user).first()
    return found if found is not None else MailPreferences(user=user)


def email_verified(*, user) -> bool:
    """True when the account's current address is the one its owner proved they read."""
    prefs = mail_preferences_for(user=user)
    return bool(user.email and prefs.verified_at and prefs.verified_email.lower() == user.email.lower())


def participants_to_tell(*, competition: Competition, kind: str) -> QuerySet[Participation]:
    """The competition's participants who keep `kind` on and whose address is verified.
    (A missing preferences row means every kind on, but also nothing verified, so an inner
    join on the row is the whole rule.)"""
    return (
        Participation.objects.filter(
            competition=competition,
            user__is_active=True,
            user__mail_preferences__verified_at__isnull=False,
            **{f"user__mail_preferences__{kind}": True},
        )
        .exclude(user__email="")
        .select_related("user", "user__mail_preferences")
    )

"""Links that prove a person reads an address: signed, dated, bound to the address they were
sent to (a link for an old address does not verify a new one)."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "podium.mail.verify"


def verification_token_make(*, user_id: int, email: str) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"u": user_id, "e": email.lower()})


class VerificationLinkInvalid(Exception):
    pass


def verification_token_read(token: str) -> tuple[int, str]:
    """(user id, address) of a valid link; VerificationLinkInvalid saying why otherwise."""
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=settings.PODIUM_EMAIL_VERIFY_MAX_AGE_S
        )
    except signing.SignatureExpired:
        raise VerificationLinkInvalid(
            "This confirmation link has expired. Ask for a new one on your account page."
        ) from None
    except signing.BadSignature:
        raise VerificationLinkInvalid(
            "This confirmation link is not valid (it may be cut short). Ask for a new one on your account page."
        ) from None
    return int(data["u"]), str(data["e"])

"""Writes of email: choices, address verification, and every notification (sent once each).

Notifications are sent by the maintenance worker (podium.mail.tasks), never inside a web
request or the scorer's transaction: a slow or unreachable SMTP server delays a mail, not
an entry. Each mail claims its SentMail row in the transaction that sends it; if the send
raises, the claim rolls back and the task's retry sends it again."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from podium.competitions.models import Competition
from podium.errors import Conflict, LimitReached
from podium.mail import selectors
from podium.mail.dispatch import send_verification_mail
from podium.mail.models import SWITCHABLE, Kind, MailPreferences, SentMail
from podium.mail.verification import VerificationLinkInvalid, verification_token_make, verification_token_read
from podium.submissions.models import Status, Submission
from podium.submissions.selectors import submission_get

log = logging.getLogger(__name__)

# A person may ask for a new confirmation mail once a minute.
VERIFY_RESEND_AFTER = dt.timedelta(seconds=60)


def site_url(path: str) -> str:
    return settings.PODIUM_PUBLIC_URL.rstrip("/") + path


def _number(value: float | None) -> str:
    """A score as people read it: six significant digits, no padding zeros."""
    return "" if value is None else f"{value:.6g}"


def _send_once(*, user, kind: str, key: str, template: str, context: dict) -> bool:
    """Render and send one mail unless this (person, kind, key) was sent already."""
    subject_and_body = render_to_string(
        template,
        {
            **context,
            "user": user,
            "site": settings.PODIUM_PUBLIC_URL.rstrip("/"),
            "preferences_url": site_url(reverse("web:account") + "#email"),
        },
    )
    subject, _, body = subject_and_body.strip().partition("\n")
    subject = subject.strip()[:200]
    try:
        with transaction.atomic():
            SentMail.objects.create(user=user, kind=kind, key=key, to=user.email, subject=subject)
            EmailMessage(subject, body.strip() + "\n", to=[user.email]).send()
    except IntegrityError:
        return False  # another delivery of the same task sent it
    log.info("mail %s to user %s: %s", kind, user.pk, subject)
    return True


# --- choices ---------------------------------------------------------------------


@transaction.atomic
def mail_preferences_update(*, user, **choices: bool) -> MailPreferences:
    unknown = set(choices) - {k.value for k in SWITCHABLE}
    if unknown:
        raise ValueError(f"unknown mail kinds: {sorted(unknown)}")
    prefs, _ = MailPreferences.objects.select_for_update().get_or_create(user=user)
    for name, value in choices.items():
        setattr(prefs, name, bool(value))
    prefs.save()
    return prefs


# --- verification -------------------------------------------------------------------


def mail_verification_send(*, user_id: int) -> bool:
    """Mail a confirmation link for the account's current address (the task's body)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email or selectors.email_verified(user=user):
        return False
    token = verification_token_make(user_id=user.pk, email=user.email)
    link = site_url(reverse("web:email_verify", kwargs={"token": token}))
    hours = settings.PODIUM_EMAIL_VERIFY_MAX_AGE_S // 3600
    return _send_once(
        user=user,
        kind=Kind.VERIFY,
        key=f"{user.email.lower()}@{timezone.now().isoformat()}"[:100],
        template="mail/verify.txt",
        context={"link": link, "hours": hours},
    )


def mail_verification_request(*, user) -> None:
    """Ask for a (new) confirmation mail: refused when verified already, or within a minute
    of the last one; sent by the maintenance worker once the request commits."""
    if not user.email:
        raise Conflict("Your account has no email address to confirm.", code="no_email")
    if selectors.email_verified(user=user):
        raise Conflict(f"{user.email} is confirmed already.", code="verified_already")
    last = SentMail.objects.filter(user=user, kind=Kind.VERIFY).order_by("-sent_at").first()
    if last is not None and timezone.now() - last.sent_at < VERIFY_RESEND_AFTER:
        wait = int((VERIFY_RESEND_AFTER - (timezone.now() - last.sent_at)).total_seconds()) + 1
        raise LimitReached(
            f"A confirmation mail went to {last.to} at {last.sent_at:%H:%M:%S} UTC: check your inbox "
            f"(and spam folder), or ask again in {wait} s.",
            code="verify_sent_recently",
            retry_after=wait,
        )
    user_id = user.pk
    transaction.on_commit(lambda: send_verification_mail(user_id), robust=True)


@transaction.atomic
def email_verify(*, token: str):
    """Mark the address of a valid link verified; returns the user. ApplicationError otherwise."""
    try:
        user_id, email = verification_token_read(token)
    except VerificationLinkInvalid as exc:
        raise Conflict(str(exc), code="link_invalid") from None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise Conflict("This confirmation link is for an account that no longer exists.", code="link_invalid")
    if user.email.lower() != email:
        raise Conflict(
            f"This link confirms {email}, which your account no longer uses; "
            "ask for a new link on your account page.",
            code="link_for_old_address",
        )
    prefs, _ = MailPreferences.objects.select_for_update().get_or_create(user=user)
    if prefs.verified_email.lower() != email or prefs.verified_at is None:
        prefs.verified_email = user.email
        prefs.verified_at = timezone.now()
        prefs.save(update_fields=["verified_email", "verified_at"])
    return user


# --- notifications ---------------------------------------------------------------------


def mail_entry_result(*, submission_id: int) -> bool:
    """Tell the entry's author it was scored or failed (the reason), as the site shows it to them."""
    found = Submission.objects.select_related("user").filter(pk=submission_id).first()
    if found is None or found.status not in (Status.SCORED, Status.FAILED):
        return False
    user = found.user
    kind = Kind.ENTRY_SCORED if found.status == Status.SCORED else Kind.ENTRY_FAILED
    prefs = selectors.mail_preferences_for(user=user)
    if not prefs.wants(kind) or not selectors.email_verified(user=user):
        return False
    # Through the reads' selector: under the Ladder the exact public score is withheld, and
    # private scores are never in a mail before the reveal.
    shown = submission_get(submission_id=submission_id, user=user)
    return _send_once(
        user=user,
        kind=kind,
        key=f"submission:{shown.pk}:{shown.attempt}",
        template=f"mail/{kind}.txt",
        context={
            "submission": shown,
            "score": _number(shown.public_score),
            "interval": (
                f"{_number(shown.public_ci_low)} to {_number(shown.public_ci_high)}"
                if shown.public_ci_low is not None and shown.public_ci_high is not None
                else ""
            ),
            "competition": shown.competition,
            "link": site_url(reverse("web:submission", kwargs={"submission_id": shown.pk})),
        },
    )


def mail_reveal(*, competition_id: int) -> int:
    """Tell every participant who keeps it on that the private board is out."""
    competition = Competition.objects.filter(pk=competition_id, private_revealed_at__isnull=False).first()
    if competition is None:
        return 0
    link = site_url(reverse("web:leaderboard", kwargs={"slug": competition.slug}) + "?board=private")
    sent = 0
    for participation in selectors.participants_to_tell(competition=competition, kind=Kind.REVEAL):
        user = participation.user
        if not selectors.email_verified(user=user):
            continue
        sent += _send_once(
            user=user,
            kind=Kind.REVEAL,
            key=f"competition:{competition.pk}",
            template="mail/reveal.txt",
            context={"competition": competition, "link": link},
        )
    return sent


def mail_closing_reminders(*, now: dt.datetime | None = None) -> int:
    """Remind participants of every competition closing within PODIUM_CLOSING_REMINDER_S.
    Once per deadline: a deadline moved later gets a reminder of its own."""
    now = now or timezone.now()
    window = dt.timedelta(seconds=settings.PODIUM_CLOSING_REMINDER_S)
    closing = Competition.objects.filter(
        is_published=True, starts_at__lte=now, ends_at__gt=now, ends_at__lte=now + window
    ).order_by("ends_at")
    sent = 0
    for competition in closing:
        link = site_url(reverse("web:competition", kwargs={"slug": competition.slug}))
        hours_left = max(1, round((competition.ends_at - now).total_seconds() / 3600))
        for participation in selectors.participants_to_tell(competition=competition, kind=Kind.CLOSING_SOON):
            user = participation.user
            if not selectors.email_verified(user=user):
                continue
            sent += _send_once(
                user=user,
                kind=Kind.CLOSING_SOON,
                key=f"competition:{competition.pk}:{competition.ends_at.isoformat()}"[:100],
                template="mail/closing_soon.txt",
                context={"competition": competition, "link": link, "hours_left": hours_left},
            )
    return sent

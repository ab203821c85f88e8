"""Email: each person's choices and verified address, and every mail sent (so none goes twice)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Kind(models.TextChoices):
    ENTRY_SCORED = "entry_scored", "An entry of mine was scored"
    ENTRY_FAILED = "entry_failed", "An entry of mine failed (with the reason)"
    CLOSING_SOON = "closing_soon", "A competition I joined closes within 24 hours"
    REVEAL = "reveal", "The private leaderboard of a competition I joined is revealed"
    VERIFY = "verify", "Confirming my email address"


# The kinds a person may switch off; verification mails are sent when asked for.
SWITCHABLE = (Kind.ENTRY_SCORED, Kind.ENTRY_FAILED, Kind.CLOSING_SOON, Kind.REVEAL)


class MailPreferences(models.Model):
    """A person's mail choices and the address they proved is theirs. No row: every kind on,
    nothing verified. Notifications go to a verified address only, so a mistyped or borrowed
    address at sign-up never receives them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mail_preferences"
    )
    entry_scored = models.BooleanField(default=True)
    entry_failed = models.BooleanField(default=True)
    closing_soon = models.BooleanField(default=True)
    reveal = models.BooleanField(default=True)
    verified_email = models.EmailField(blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "mail preferences"
        verbose_name_plural = "mail preferences"

    def wants(self, kind: str) -> bool:
        return bool(getattr(self, kind))

    def __str__(self) -> str:
        return f"mail preferences of {self.user}"


class SentMail(models.Model):
    """One mail of one kind about one thing (an entry's attempt, a competition's deadline or
    reveal) to one person: the unique key is claimed in the transaction that sends it, so a
    retried or redelivered task never sends it twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_mails")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=100)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["user", "kind", "key"], name="sent_mail_once")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}: {self.subject}"

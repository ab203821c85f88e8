from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Status(models.TextChoices):
    CREATED = "created", "Created"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SCORING = "scoring", "Scoring"
    SCORED = "scored", "Scored"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = (Status.SCORED, Status.FAILED, Status.CANCELLED)
ACTIVE_STATUSES = (Status.CREATED, Status.QUEUED, Status.RUNNING, Status.SCORING)


# The entries a board may show: scored, with a public score, not disqualified.
RANKED = Q(status=Status.SCORED, public_score__isnull=False, disqualified_at__isnull=True)


class Kind(models.TextChoices):
    PREDICTIONS = "predictions", "Prediction file"
    CONFIG = "config", "Model config"


class Submission(models.Model):
    """An entry. The row is the source of truth for its lifecycle (DESIGN.md)."""

    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="submissions"
    )
    # The phase it was entered in; is_late: after that phase's end (its late board, never its ranks).
    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="submissions")
    is_late = models.BooleanField(default=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    team = models.ForeignKey(
        "teams.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="submissions"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED, db_index=True)
    description = models.CharField(max_length=500, blank=True)

    predictions = models.FileField(upload_to="submissions/%Y/%m/", blank=True)
    config = models.JSONField(null=True, blank=True)
    config_text = models.TextField(blank=True)
    weights = models.FileField(upload_to="weights/%Y/%m/", blank=True)

    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # How often the reaper re-sent a stuck entry to the scorer (bounded by PODIUM_MAX_ATTEMPTS).
    score_sends = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # When the current attempt's training message went to the broker; null while a queued
    # model entry waits its turn in the fair queue (podium.submissions.queue). Kept after the
    # entry moves on: the entrant's last turn is read from it.
    released_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    # What the config validator warned about, accepted all the same: [{path, message}].
    config_warnings = models.JSONField(default=list, blank=True)
    # How the training run ended and where it ran, as the worker posted it (common.protocol.RunReport).
    training_report = models.JSONField(null=True, blank=True)

    public_score = models.FloatField(null=True, blank=True)
    private_score = models.FloatField(null=True, blank=True)
    public_ci_low = models.FloatField(null=True, blank=True)
    public_ci_high = models.FloatField(null=True, blank=True)
    # The competition's other metrics: {name: {"public": float|null, "private": float|null}}.
    extra_scores = models.JSONField(default=dict, blank=True)
    is_final_pick = models.BooleanField(default=False)

    # A disqualified entry never ranks, on any board; the reason is shown to its authors.
    # `disqualified_scope` says which decision put it there: the entry's own, or its
    # entrant's (lifting the entrant's disqualification clears only the latter).
    disqualified_at = models.DateTimeField(null=True, blank=True)
    disqualified_reason = models.CharField(max_length=500, blank=True)
    disqualified_scope = models.CharField(
        max_length=10, blank=True, choices=[("entry", "This entry"), ("entrant", "Its participant or team")]
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["competition", "user", "created_at"], name="sub_comp_user_created"),
            models.Index(fields=["status", "heartbeat_at"], name="sub_status_heartbeat"),
            # The competition list counts scored entries per competition: index-only with this.
            models.Index(fields=["competition", "status"], name="sub_comp_status"),
            models.Index(fields=["phase", "user", "created_at"], name="sub_phase_user_created"),
            # The fair queue reads queued entries, released or waiting, on every release.
            models.Index(
                fields=["released_at", "created_at"],
                condition=Q(status="queued"),
                name="sub_queued_release",
            ),
        ]

    # Set on display copies whose scores a selector withheld (the Ladder; private scores before the close).
    scores_withheld = False

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.status}"

    def save(self, *args, **kwargs):
        if self.scores_withheld:
            raise RuntimeError(
                f"Submission #{self.pk} is a display copy with withheld scores; reload it to save."
            )
        super().save(*args, **kwargs)


class EpochMetric(models.Model):
    """One epoch of training as the worker reported it; idempotent per (submission, attempt,
    variant, epoch). `variant`: which model of a sweep or an ensemble (0 for an entry of one)."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="epoch_metrics")
    attempt = models.PositiveIntegerField()
    variant = models.PositiveSmallIntegerField(default=0)
    epoch = models.PositiveIntegerField()
    data = models.JSONField()  # train_loss, val_loss, val_metric, lr, seconds, grad_norms{layer: norm}
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attempt", "variant", "epoch"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "attempt", "variant", "epoch"], name="epoch_metric_unique_variant"
            )
        ]


class Disqualification(models.Model):
    """A participant or a team removed from a competition's boards, with the reason shown to
    them. Reversible: lifting it keeps the row (the audit log says who did what and when)."""

    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="disqualifications"
    )
    # Exactly one of user / team, as on the board rows.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="disqualification_user_or_team",
            ),
            # At most one disqualification in force per entrant.
            models.UniqueConstraint(
                fields=["competition", "user"],
                condition=Q(lifted_at__isnull=True, team__isnull=True),
                name="disqualification_one_active_user",
            ),
            models.UniqueConstraint(
                fields=["competition", "team"],
                condition=Q(lifted_at__isnull=True, team__isnull=False),
                name="disqualification_one_active_team",
            ),
        ]

    def __str__(self) -> str:
        return f"disqualified: {self.team or self.user} in {self.competition_id}"

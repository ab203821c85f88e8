"""A rescore of a competition's entries, run in the background chunk by chunk."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RescoreJob(models.Model):
    """Every entry scored when the job started, scored again against the current answer key
    and metric. Progress is `done` of `total`; the boards are rebuilt once at the end."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="rescore_jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    metric = models.CharField(max_length=30, help_text="the metric the entries are scored with")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # The entries of the job: scored, with an id up to this one, when it started.
    last_submission_id = models.BigIntegerField(default=0)
    cursor = models.BigIntegerField(default=0, help_text="the last entry id rescored")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="entries that could not be scored again")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by every chunk: a job that has not moved for a while lost its task message.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One rescore at a time per competition: a second one waits for the first to end.
            models.UniqueConstraint(
                fields=["competition"],
                condition=Q(state__in=["queued", "running"]),
                name="rescore_one_active_per_competition",
            )
        ]

    def __str__(self) -> str:
        return f"rescore #{self.pk} of {self.competition_id}: {self.done}/{self.total}"

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0 else self.done / self.total

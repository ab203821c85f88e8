"""The lab: ablations of a scored model entry, and the runs that train them (docs/architecture.md,
"The lab").

A `LabRun` is one model config trained by the real workers on a dataset version and
evaluated on a seeded held-out part of its training file (`holdout`) or on its hidden test
rows (`test`, staff studies only). An `Ablation` is a participant's set of runs of one
entry: a baseline (the entry's own config, retrained the same way) and one run per
variant, every run evaluated on the same held-out rows, so a variant's difference from the
baseline is paired row by row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


RUN_ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
RUN_FINAL = (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


class Evaluate(models.TextChoices):
    HOLDOUT = "holdout", "A held-out part of the training file"
    TEST = "test", "The dataset's hidden test rows"


# The key of an ablation's baseline run: the entry's config, unchanged.
BASELINE_KEY = "baseline"


class Ablation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ablations")
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.CASCADE, related_name="ablations"
    )
    # The entry's competition, kept for the quota's count (per participant, competition and day).
    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="ablations"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    holdout_fraction = models.FloatField()
    holdout_seed = models.PositiveIntegerField()
    # What the quota charged: runs (the baseline included) times the budget's epochs.
    model_epochs = models.PositiveIntegerField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "competition", "created_at"], name="ablation_quota")]

    def __str__(self) -> str:
        return f"ablation #{self.pk} of entry #{self.submission_id}"


class LabRun(models.Model):
    ablation = models.ForeignKey(
        Ablation, on_delete=models.CASCADE, null=True, blank=True, related_name="runs"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_runs")
    # A staff study's name (the claims' pages read their runs by it); blank for an ablation's.
    study_key = models.CharField(max_length=100, blank=True, db_index=True)
    key = models.CharField(max_length=100)  # "baseline", or the variant's stable id
    technique = models.CharField(max_length=40, blank=True)
    change = models.CharField(max_length=300, blank=True)
    config = models.JSONField()

    dataset = models.ForeignKey("competitions.Dataset", on_delete=models.PROTECT, related_name="+")
    pretrain_datasets = models.ManyToManyField("competitions.Dataset", blank=True, related_name="+")
    metric = models.CharField(max_length=64)
    evaluate = models.CharField(max_length=8, choices=Evaluate.choices)
    holdout_fraction = models.FloatField(null=True, blank=True)
    seed = models.PositiveIntegerField()  # the held-out split's and the bootstrap's
    budget = models.JSONField()  # common.protocol.Budget.as_dict()

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    attempt = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)  # when the current attempt was sent
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The current attempt's epoch records by epoch number ({"1": {train_loss, val_loss,
    # val_metric, lr, seconds, grad_norms{layer: norm}}, …}); a new attempt starts them over.
    epochs = models.JSONField(default=dict, blank=True)
    predictions = models.FileField(upload_to="lab/%Y/%m/", blank=True)
    score = models.FloatField(null=True, blank=True)
    score_low = models.FloatField(null=True, blank=True)
    score_high = models.FloatField(null=True, blank=True)
    # Against the ablation's baseline, paired on the same rows (null for the baseline itself).
    diff = models.FloatField(null=True, blank=True)
    diff_low = models.FloatField(null=True, blank=True)
    diff_high = models.FloatField(null=True, blank=True)
    beyond_noise = models.BooleanField(null=True, blank=True)
    parameters = models.PositiveBigIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)  # training time, the epochs' seconds summed
    report = models.JSONField(null=True, blank=True)  # common.protocol.RunReport
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ablation", "key"], condition=Q(ablation__isnull=False), name="lab_run_ablation_key"
            ),
            models.CheckConstraint(
                condition=Q(evaluate="test") | Q(holdout_fraction__isnull=False),
                name="lab_run_holdout_has_fraction",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="lab_run_status_heartbeat")]

    def __str__(self) -> str:
        return f"lab run #{self.pk} {self.key} {self.status}"

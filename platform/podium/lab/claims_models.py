"""The stored measurement of a claim of the post (`claims.py`): what `manage.py run_claims`
last measured, and what the claim pages render. Re-running a claim replaces its row."""

from __future__ import annotations

from django.db import models


class ClaimResult(models.Model):
    slug = models.SlugField(max_length=80, unique=True)  # the registry's claim
    measured_at = models.DateTimeField()
    commit = models.CharField(max_length=40, blank=True)  # `git rev-parse HEAD` of the run
    hardware = models.CharField(max_length=500)  # where the trainers ran, and the command's machine
    command = models.CharField(max_length=300)  # how it was run, to run it again
    seeds = models.PositiveSmallIntegerField()
    metric = models.CharField(max_length=64)
    higher_is_better = models.BooleanField(default=True)
    datasets = models.JSONField(default=list)  # [{slug, version}] the runs trained on
    # claim_verdicts.summarize_arms: per arm its per-seed scores, mean and 95% interval,
    # parameters, multiply-adds, seconds and the curves averaged over seeds.
    arms = models.JSONField(default=list)
    checks = models.JSONField(default=list)  # claim_verdicts.decide per check of the study
    reproduces = models.BooleanField(null=True)  # None: a check could not be decided
    why = models.TextField(
        blank=True
    )  # when it does not reproduce (or is undecided): which check, by how much
    study = models.JSONField(default=dict)  # the study as run: arms' configs, checks
    seconds = models.FloatField(default=0.0)  # the study's wall time

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"claim {self.slug} ({self.measured_at:%Y-%m-%d})"

"""The attempt protocol of a row a training worker works on (an entry, a lab run): claimed,
kept alive and failed by (row, attempt) with conditional updates, so a repeated delivery or a
late worker of a superseded attempt changes nothing (docs/architecture.md, "Worker protocol").
The row's model has `status`, `attempt`, `started_at`, `heartbeat_at` and `finished_at`."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils import timezone

from podium.errors import Conflict


@dataclass(frozen=True)
class Attempts:
    model: type[models.Model]
    noun: str  # how an answer names a row: "Submission", "Lab run"
    queued: str
    running: str
    failed: str
    cancelled: str
    active: tuple[str, ...]  # the statuses a worker may still fail

    def conflict(self, pk: int, attempt: int) -> Conflict:
        """Why (pk, attempt) cannot do what it asked, in the row's own words."""
        row = self.model.objects.filter(pk=pk).values("status", "attempt").first()
        name = f"{self.noun} #{pk}"
        if row is None:
            return Conflict(f"{name} does not exist.")
        if row["status"] == self.cancelled:
            return Conflict(f"{name} was cancelled.")
        if row["attempt"] != attempt:
            return Conflict(
                f"Attempt {attempt} of {self.noun.lower()} #{pk} is no longer current (now {row['attempt']})."
            )
        return Conflict(f"{name} is {row['status']}; attempt {attempt} cannot do this now.")

    def claim(self, pk: int, attempt: int) -> None:
        """queued -> running for this attempt only; a Conflict otherwise."""
        now = timezone.now()
        changed = self.model.objects.filter(pk=pk, status=self.queued, attempt=attempt).update(
            status=self.running, started_at=now, heartbeat_at=now
        )
        if changed != 1:
            raise self.conflict(pk, attempt)

    def heartbeat(self, pk: int, attempt: int) -> None:
        changed = self.model.objects.filter(pk=pk, status=self.running, attempt=attempt).update(
            heartbeat_at=timezone.now()
        )
        if changed != 1:
            raise self.conflict(pk, attempt)

    def fail(self, pk: int, attempt: int, **fields) -> bool:
        """The current attempt failed, with `fields` besides the status and the end time: True
        if this call failed it, False for a repeat of the same attempt's failure; a Conflict
        for any other attempt or state."""
        changed = self.model.objects.filter(pk=pk, attempt=attempt, status__in=self.active).update(
            status=self.failed, finished_at=timezone.now(), **fields
        )
        if changed == 1:
            return True
        if self.model.objects.filter(pk=pk, attempt=attempt, status=self.failed).exists():
            return False
        raise self.conflict(pk, attempt)

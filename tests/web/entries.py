"""Entries for the page tests, moved through their lifecycle by the intake's own services
(the same calls the worker callbacks and the scorer make), without worker processes."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

CONFIG = """version: 1
seed: 0
model:
  layers:
    - linear: {units: 16}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 3
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""


def record_epoch(entry, epoch: int, *, lr="0.01", loss0=1.2):
    """What the worker's epoch callback records (same service)."""
    from podium.submissions.services import submission_record_epoch

    loss = loss0 / epoch
    submission_record_epoch(
        submission_id=entry.pk,
        attempt=entry.attempt,
        epoch=epoch,
        data={
            "train_loss": loss,
            "val_loss": loss * 1.1,
            "val_metric": {"name": "accuracy", "value": 0.5 + 0.1 * epoch},  # as workers.training reports it
            "lr": float(lr),
            "grad_norms": {"layers.0.linear": 0.5 / epoch, "layers.2.linear": 1e-4 / epoch},
        },
    )


def config_entry(competition, user, *, lr="0.01", epochs=3, loss0=1.2):
    """A model-config entry claimed for its first attempt, with `epochs` epochs reported (the
    config asks for 3)."""
    from podium.submissions.models import Submission
    from podium.submissions.services import submission_claim, submission_create

    with transaction.atomic():
        entry, _ = submission_create(
            competition=competition, user=user, config_text=CONFIG.replace("0.01", lr)
        )
    attempt = Submission.objects.get(pk=entry.pk).attempt
    submission_claim(submission_id=entry.pk, attempt=attempt)
    entry = Submission.objects.get(pk=entry.pk)
    for epoch in range(1, epochs + 1):
        record_epoch(entry, epoch, lr=lr, loss0=loss0)
    return Submission.objects.get(pk=entry.pk)


def scored_predictions_entry(competition, user, label: str):
    """A predictions entry scored by the scorer's service (the task calls the same)."""
    from podium.submissions.models import Submission
    from podium.submissions.services import submission_create, submission_score

    ids = [
        line.split(",", 1)[0]
        for line in competition.dataset.files.get(name="test.csv")
        .file.open("rb")
        .read()
        .decode()
        .splitlines()[1:]
    ]
    body = (
        "id," + competition.dataset.manifest["target"] + "\n" + "".join(f"{i},{label}\n" for i in ids)
    ).encode()
    with transaction.atomic():
        upload = SimpleUploadedFile("predictions.csv", body, content_type="text/csv")
        entry, _ = submission_create(competition=competition, user=user, predictions_file=upload)
    entry = Submission.objects.get(pk=entry.pk)
    submission_score(submission_id=entry.pk, attempt=entry.attempt)
    return Submission.objects.get(pk=entry.pk)

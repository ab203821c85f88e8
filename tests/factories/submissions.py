"""Submissions, and what an entry sends: a predictions file or a model config."""

from __future__ import annotations

import csv
import io

TINY_CONFIG = """
version: 1
seed: 0
model:
  layers:
    - linear: {units: 8}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 2
  batch_size: 16
  optimizer: {name: adam, lr: 0.01}
"""


def make_submission(competition, user, **fields):
    """A submission row as the intake stores it (a predictions entry unless `kind` says otherwise);
    nothing is sent or scored."""
    from podium.submissions.models import Kind, Submission

    fields.setdefault("kind", Kind.PREDICTIONS)
    if "phase" not in fields and "phase_id" not in fields:
        fields["phase"] = competition.phases.get(number=1)
    return Submission.objects.create(competition=competition, user=user, **fields)


def competition_test_ids(competition) -> list[str]:
    rows = competition.dataset.files.get(name="test.csv").file.open("rb").read().decode()
    return [r["id"] for r in csv.DictReader(io.StringIO(rows))]


def predictions_csv(competition, *, label: str | None = None, drop: int = 0) -> bytes:
    """A predictions file with one label for every test id (less the first `drop`)."""
    manifest = competition.dataset.manifest
    ids = competition_test_ids(competition)[drop:]
    label = label or manifest["classes"][0]
    return ("id,target\n" + "".join(f"{i},{label}\n" for i in ids)).encode()


def sweep_report(**kept) -> dict:
    """A worker's `RunReport` for a two-variant lr sweep that kept its second variant
    (lr=0.05); `kept` overrides fields of that variant's outcome."""
    outcomes = [
        {
            "index": 0,
            "label": "lr=0.01",
            "stopped_reason": "completed",
            "epochs_run": 3,
            "val_metric": {"name": "accuracy", "value": 0.75},
            "val_loss": 0.6,
        },
        {
            "index": 1,
            "label": "lr=0.05",
            "stopped_reason": "completed",
            "epochs_run": 3,
            "val_metric": {"name": "accuracy", "value": 0.92},
            "val_loss": 0.3,
            **kept,
        },
    ]
    return {
        "stopped_reason": "completed",
        "stop_message": "variant 1 (lr=0.05): completed 3 epochs",
        "notes": ["the sweep trained 2 variants and kept variant 1 (lr=0.05), best on the validation rows"],
        "variants": {"kind": "sweep", "select": "metric", "kept": 1, "outcomes": outcomes},
    }

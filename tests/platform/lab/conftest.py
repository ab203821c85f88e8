"""Fixtures of the lab's tests: the submission tests' private broker, probe and competition
(re-used, not copied), and lab runs as a worker sees them."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from tests.platform.submissions.conftest import (  # noqa: F401  (fixtures, by name)
    _broker_in_tmp,
    _fast_password_hashing,
    broker,
    competition,
    private_var_dir,
)

LAB_TASK = "workers.tasks.train_lab_run"


@pytest.fixture
def entry(competition, alice):  # noqa: F811  (the fixture imported above, by name)
    """Alice's scored model entry (the intake's normalised config, as stored)."""
    import yaml

    from podium.submissions.models import Kind, Status
    from tests.factories.submissions import TINY_CONFIG, make_submission
    from workers.spec import load_config

    config = load_config(yaml.safe_load(TINY_CONFIG)).model_dump(mode="json")
    return make_submission(
        competition, alice, kind=Kind.CONFIG, config=config, config_text=TINY_CONFIG, status=Status.SCORED
    )


def start_ablation(api, entry, keys):
    """POST an ablation of `entry` with these variant keys; the answer."""
    return api.post(f"/api/submissions/{entry.pk}/ablations/", {"variants": keys}, format="json")


def worker(token: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Worker {token}")
    return client


def lab_url(run_id: int, action: str) -> str:
    return f"/api/worker/lab-runs/{run_id}/{action}/"


def holdout_truth(slug: str, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The held-out rows' ids and labels as the worker's side draws them (workers.data), and
    the dataset's classes: the platform must score these rows, drawn on its own side."""
    from workers.data import holdout_data, load_dataset

    data = load_dataset(slug)
    held = holdout_data(data, fraction=fraction, seed=seed)
    return held.test_ids, data.y_train[held.test_ids.astype(int)], held.classes


def holdout_csv(slug: str, *, fraction: float, seed: int, wrong_every: int = 0) -> bytes:
    """A predictions file of the held-out rows: the true labels, every `wrong_every`-th one wrong."""
    ids, labels, classes = holdout_truth(slug, fraction=fraction, seed=seed)
    lines = ["id,target"]
    for i, (row_id, label) in enumerate(zip(ids, labels, strict=True)):
        index = int(label)
        if wrong_every and i % wrong_every == 0:
            index = (index + 1) % len(classes)
        lines.append(f"{row_id},{classes[index]}")
    return ("\n".join(lines) + "\n").encode()

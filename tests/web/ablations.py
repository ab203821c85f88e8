"""Ablations for the page tests, moved through their lifecycle by the lab's own services (the
calls the worker callbacks make), without worker processes; held-out predictions drawn as
the worker draws its rows (tests/platform/lab/conftest.py)."""

from __future__ import annotations

import io

import yaml

from tests.factories.submissions import make_submission
from tests.platform.lab.conftest import holdout_csv
from tests.web.entries import CONFIG

# Each run's held-out predictions get every n-th row wrong: the original the fewest.
WRONG_EVERY = {"baseline": 7, "activation:sigmoid": 2}


def scored_model_entry(competition, user):
    """A scored model entry of `user` with the intake's normalised config (tests/web/entries.CONFIG)."""
    from podium.submissions.models import Kind, Status
    from workers.spec import load_config

    config = load_config(yaml.safe_load(CONFIG)).model_dump(mode="json")
    return make_submission(
        competition, user, kind=Kind.CONFIG, config=config, config_text=CONFIG, status=Status.SCORED
    )


def _epoch_data(key: str, epoch: int) -> dict:
    # The sigmoid variant's first layer gets a gradient orders of magnitude below its last.
    first = 1e-5 if key == "activation:sigmoid" else 0.3
    loss = (2.0 if key == "activation:sigmoid" else 1.2) / epoch
    return {
        "train_loss": loss,
        "val_loss": loss * 1.1,
        "val_metric": {"name": "accuracy", "value": 0.5 + 0.1 * epoch},
        "seconds": 0.5,
        "grad_norms": {"layers.0.linear": first / epoch, "layers.2.linear": 0.5 / epoch},
    }


def train_runs(ablation, *, epochs: int = 3, finish: bool = True) -> None:
    """What the workers do with an ablation's runs: claim each, report `epochs` epochs, and
    (with `finish`) post its held-out predictions, scored and paired with the baseline's."""
    from podium.lab.models import LabRun
    from podium.lab.services import lab_run_claim, lab_run_record_epochs, lab_run_store_predictions

    slug = ablation.submission.competition.dataset.slug
    runs = list(LabRun.objects.filter(ablation=ablation).order_by("id"))
    for run in runs:
        lab_run_claim(run_id=run.pk, attempt=run.attempt)
    for run in runs:
        lab_run_record_epochs(
            run_id=run.pk,
            attempt=run.attempt,
            records=[
                {"epoch": n, "variant": 0, "data": _epoch_data(run.key, n)} for n in range(1, epochs + 1)
            ],
        )
        if finish:
            body = holdout_csv(
                slug,
                fraction=ablation.holdout_fraction,
                seed=ablation.holdout_seed,
                wrong_every=WRONG_EVERY.get(run.key, 5),
            )
            lab_run_store_predictions(run_id=run.pk, attempt=run.attempt, file=io.BytesIO(body))


def trained_ablation(entry, user, keys, *, epochs: int = 3, finish: bool = True):
    """An ablation of `entry` with the variants `keys`, its runs trained as `train_runs` says."""
    from podium.lab.services import ablation_create

    ablation = ablation_create(user=user, submission_id=entry.pk, keys=list(keys))
    train_runs(ablation, epochs=epochs, finish=finish)
    return ablation

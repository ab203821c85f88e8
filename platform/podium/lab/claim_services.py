"""Writes of the claims' studies: sending a claim's runs to the real workers through the lab
(`lab.services.lab_runs_create`, evaluated on the hidden test rows: a staff study), reading
them back as `RunOutcome`s, the classical baselines run here, and the stored result."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from common.protocol import Budget
from podium.lab.claim_verdicts import RunOutcome, summarize_arms, verdict
from podium.lab.claims import Arm, Claim, arm_config
from podium.lab.claims_models import ClaimResult

# A claim's runs train under one budget: no run of the studies comes near it (each is meant to
# take under ~30 s on one CPU thread); it only stops a run that hangs.
STUDY_RUN_SECONDS = 900.0
STUDY_KEY_PREFIX = "claims"
# The classical baselines whose fit draws from a seed (the others give one score).
SEEDED_BASELINES = ("random_forest",)


def study_budget(claim: Claim) -> Budget:
    epochs = max(
        max(arm.config["train"].get("epochs", 1), (arm.config.get("pretrain") or {}).get("epochs", 0))
        for arm in claim.model_arms
    )
    return Budget(epochs=epochs, params=None, seconds=STUDY_RUN_SECONDS, variants=1)


def claim_datasets(claim: Claim) -> tuple:
    """The claim's datasets as stored versions (imported from the catalog when missing)."""
    from podium.competitions.services import dataset_import_builtin

    train = dataset_import_builtin(slug=claim.dataset)
    pretrain = dataset_import_builtin(slug=claim.pretrain_dataset) if claim.pretrain_dataset else None
    return train, pretrain


def claim_study_start(*, claim: Claim, owner, seeds: int, study_key: str) -> list:
    """Every model arm × seed of the claim as a lab run on the test rows; sent on commit. The
    arms of one seed share the config seed and the run seed, so they pair up."""
    from podium.lab.services import lab_runs_create

    train, pretrain = claim_datasets(claim)
    budget = study_budget(claim)
    runs = []
    with transaction.atomic():
        for seed in range(seeds):
            runs += lab_runs_create(
                owner=owner,
                dataset=train,
                configs=[
                    (arm.key, arm.label, arm.technique, arm_config(claim, arm, seed))
                    for arm in claim.model_arms
                ],
                evaluate="test",
                seed=seed,
                budget=budget,
                metric=train.manifest["metric"],
                pretrain_datasets=[pretrain] if pretrain is not None else [],
                study_key=study_key,
            )
    return runs


def run_outcome(claim: Claim, run) -> RunOutcome:
    """A finished (or failed) lab run as the verdicts read it."""
    from podium.lab.selectors import run_curves

    arm = claim.arm(run.key)
    curves = run_curves(run)
    epochs = [
        {
            "epoch": n,
            "train_loss": curves["train_loss"][i],
            "val_loss": curves["val_loss"][i],
            "val_metric": curves["val_metric"][i],
            "grad_norms": {layer: values[i] for layer, values in curves["grad_norms"].items()},
            "phase": ((run.epochs or {}).get(str(n)) or {}).get("phase"),
        }
        for i, n in enumerate(curves["epochs"])
    ]
    costs = model_costs(arm, run.dataset.manifest)
    return RunOutcome(
        arm=run.key,
        seed=run.seed,
        score=run.score if run.status == "done" else None,
        params=run.parameters or costs["params"],
        trainable=costs["trainable"],
        multiply_adds=costs["multiply_adds"],
        seconds=run.seconds,
        epochs=epochs,
        error=run.error_message or ("" if run.status == "done" else f"run {run.status}"),
    )


def model_costs(arm: Arm, manifest: dict) -> dict:
    """Parameters, the parameters the last phase trains, and multiply-adds per example, from
    the schema (no torch). LoRA trains its adapters and the new head; `head` mode the head;
    otherwise every parameter (a fine-tune's own freeze list is counted as full)."""
    from workers.spec import count_multiply_adds, count_parameters, load_config, n_outputs_for

    config = load_config(arm.config)
    shape, n_out, inputs = manifest["input_shape"], n_outputs_for(manifest), manifest.get("inputs")
    params = count_parameters(config, shape, n_out, inputs=inputs)
    trainable = params
    if config.finetune is not None and config.finetune.effective_mode in ("lora", "head"):
        # The head is the one layer whose size follows the classes: one more class adds its
        # inputs and a bias, so the head holds n_out times that.
        head = n_out * (params - count_parameters(config, shape, n_out - 1, inputs=inputs))
        adapters = count_parameters(config, shape, n_out, inputs=inputs, with_adapters=True) - params
        trainable = head + adapters
    return {
        "params": params,
        "trainable": trainable,
        "multiply_adds": count_multiply_adds(config, shape, n_out, inputs=inputs),
    }


def classical_outcomes(claim: Claim, seeds: int, *, metric: str) -> list[RunOutcome]:
    """The claim's scikit-learn baselines on the test rows, one per seed: the random forest
    draws its trees from the seed; the others are deterministic, fitted once and their score
    given to every seed."""
    import time

    from datasets.baselines import baseline_score
    from datasets.catalog import build

    arms = [a for a in claim.arms if not a.is_model]
    if not arms:
        return []
    bundle = build(claim.dataset)
    out = []
    for arm in arms:
        fitted: tuple[float, float] | None = None
        for seed in range(seeds):
            if fitted is None or arm.classical in SEEDED_BASELINES:
                start = time.perf_counter()
                fitted = (
                    baseline_score(bundle, arm.classical, seed=seed, metric=metric),
                    time.perf_counter() - start,
                )
            out.append(RunOutcome(arm=arm.key, seed=seed, score=fitted[0], seconds=fitted[1]))
    return out


@transaction.atomic
def claim_result_store(
    *,
    claim: Claim,
    outcomes: list[RunOutcome],
    metric: str,
    higher_is_better: bool,
    datasets: list[dict],
    seeds: int,
    measured_at: datetime,
    commit: str,
    hardware: str,
    command: str,
    seconds: float,
) -> ClaimResult:
    """Sum the runs up, decide the checks, and store (or replace) the claim's result."""
    arms = summarize_arms(claim, outcomes)
    decided = verdict(claim, arms, higher_is_better=higher_is_better)
    study = {
        "source": claim.source,
        "arms": [
            {
                "key": a.key,
                "label": a.label,
                "technique": a.technique,
                "config": a.config,
                "classical": a.classical,
            }
            for a in claim.arms
        ],
        "checks": [{"kind": c.kind, "arm": c.arm, "other": c.other, "value": c.value} for c in claim.checks],
    }
    result, _ = ClaimResult.objects.update_or_create(
        slug=claim.slug,
        defaults={
            "measured_at": measured_at,
            "commit": commit[:40],
            "hardware": hardware[:500],
            "command": command[:300],
            "seeds": seeds,
            "metric": metric,
            "higher_is_better": higher_is_better,
            "datasets": datasets,
            "arms": arms,
            "checks": decided["checks"],
            "reproduces": decided["reproduces"],
            "why": decided["why"],
            "study": study,
            "seconds": round(seconds, 1),
        },
    )
    return result

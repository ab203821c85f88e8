"""What an entry's Status card says beyond its state: epochs run of those planned, training
time, the model's parameter count, how the run ended; and for a running entry the time
elapsed and an estimate of what is left (from the epochs so far). For a sweep or an
ensemble, its Variants table: each model, how it ended and which predicts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from podium.submissions.selectors import config_planned_epochs


@dataclass(frozen=True)
class EntryStatus:
    epochs_run: int
    epochs_planned: int | None
    elapsed: dt.timedelta | None  # training time so far, or in all once it ended
    remaining: dt.timedelta | None  # a running entry's estimate
    parameters: int | None
    ending: str  # how the run ended, in words ("" while it runs)


def _parameters(submission) -> int | None:
    if not submission.config:
        return None
    from workers.spec import ConfigError, count_parameters, load_config, n_outputs_for

    manifest = submission.competition.dataset.manifest
    try:
        config = load_config(submission.config)
        return count_parameters(
            config, manifest.get("input_shape") or (), n_outputs_for(manifest), with_adapters=True
        )
    except (ConfigError, ValueError, TypeError):
        return None  # stored before a schema change: the card shows no count rather than fail


def _ending(submission, epochs_run: int, planned: int | None) -> str:
    status = submission.status
    if status == "failed":
        return "failed"
    if status == "cancelled":
        return f"cancelled after {epochs_run} epoch{'s' if epochs_run != 1 else ''}"
    if status not in ("scoring", "scored") or not submission.config:
        return ""
    of = f"{epochs_run} of {planned}" if planned else str(epochs_run)
    variants = (submission.training_report or {}).get("variants")
    if variants:
        return _variants_ending(variants, of)
    # The worker's run report says why the run stopped (common.protocol.RunReport).
    reason = ((submission.training_report or {}).get("stopped_reason") or "").strip()
    said = {
        "early_stopping": f"early stopping after {of} epochs (the validation score stopped improving)",
        "budget_seconds": f"the time budget ended it after {of} epochs",
        "budget_epochs": f"the competition's epoch budget ended it after {of} epochs",
        "diverged": f"the loss diverged after {of} epochs: predicted from its best epoch",
    }.get(reason)
    if said:
        return said
    if planned and epochs_run >= planned:
        return f"trained all {planned} epochs"
    if planned:
        # An entry trained before workers reported why they stopped: early stopping or the
        # time budget.
        return f"stopped after {of} epochs (early stopping or the time budget)"
    return f"trained {epochs_run} epochs"


def _variants_ending(report: dict, of: str) -> str:
    """A sweep's or an ensemble's ending: which model predicts, and the epochs of all of them."""
    outcomes = report.get("outcomes") or []
    trained = [o for o in outcomes if "error" not in o]
    if report.get("kind") == "sweep":
        kept = next((o for o in outcomes if o.get("index") == report.get("kept")), {})
        said = f"the sweep kept variant {kept.get('index')} ({kept.get('label')}) of {len(outcomes)}"
    else:
        said = f"the ensemble averages {len(trained)} of {len(outcomes)} seeds"
    return f"{said}; {of} epochs trained in all"


def entry_status(submission, epochs, *, now: dt.datetime | None = None) -> EntryStatus:
    """`epochs`: the current attempt's epoch records (submission_epochs)."""
    now = now or timezone.now()
    planned = None
    if submission.config:
        # A sweep's or an ensemble's epochs count all its variants, as its budget does.
        planned = min(
            config_planned_epochs(submission.config) or submission.competition.budget_epochs,
            submission.competition.budget_epochs,
        )
    run = len(epochs)
    elapsed = None
    if submission.started_at:
        end = (
            submission.finished_at
            if submission.status not in ("running",) and submission.finished_at
            else now
        )
        elapsed = max(end - submission.started_at, dt.timedelta(0))
    remaining = None
    if submission.status == "running" and elapsed is not None and run and planned:
        remaining = elapsed / run * max(planned - run, 0)
        if submission.competition.budget_seconds:
            cap = dt.timedelta(seconds=submission.competition.budget_seconds) - elapsed
            remaining = max(min(remaining, cap), dt.timedelta(0))
    return EntryStatus(
        epochs_run=run,
        epochs_planned=planned,
        elapsed=elapsed,
        remaining=remaining,
        parameters=_parameters(submission),
        ending=_ending(submission, run, planned),
    )


@dataclass(frozen=True)
class VariantRow:
    index: int
    label: str
    role: str  # kept | averaged | not kept | failed | "" (still training)
    ended: str  # how it ended, or why it failed
    val_metric: float | None
    val_loss: float | None


def variant_rows(variants, report: dict) -> list[VariantRow]:
    """A sweep's or an ensemble's models (`workers.spec.Variant`) with what the worker's run
    report (`common.protocol.VariantsReport`) says of each; before the report, the models alone."""
    outcomes = {o.get("index"): o for o in report.get("outcomes") or ()}
    kind, kept = report.get("kind"), report.get("kept")
    rows = []
    for v in variants:
        outcome = outcomes.get(v.index) or {}
        if not outcome:
            role = ""
        elif "error" in outcome:
            role = "failed"
        elif kind == "ensemble":
            role = "averaged"
        else:
            role = "kept" if v.index == kept else "not kept"
        reason = (outcome.get("stopped_reason") or "").replace("_", " ")
        ended = outcome.get("error") or (
            f"{reason} after {outcome.get('epochs_run')} epochs" if reason else ""
        )
        rows.append(
            VariantRow(
                index=v.index,
                label=v.label,
                role=role,
                ended=ended,
                val_metric=(outcome.get("val_metric") or {}).get("value"),
                val_loss=outcome.get("val_loss"),
            )
        )
    return rows

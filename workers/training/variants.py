"""An entry of several models: a sweep keeps the variant best on the validation rows, an
ensemble averages its seeds' predictions (docs/techniques.md, "Sweeps and ensembles").

`train_entry` is what a runner calls for any entry: a config of one model trains through
`train()` exactly as before; a sweep's or an ensemble's variants (`workers.spec.expand_variants`)
train together through the packed engine (`workers.training.packed`), or one after another
when the config cannot be packed (pre-training), and their results are combined here.

Decisions:
- The budget counts the variants together (checked again here, as at the intake): `epochs` is
  the sum of the variants' epochs per phase, `seconds` the entry's wall clock shared by all,
  `params` an ensemble's seeds together.
- A variant that fails with the trainer's own reason (`TrainError`: diverged, over budget) is
  left out: a sweep chooses among the others, an ensemble averages the others, each saying so
  in the run's notes; the entry fails only when every variant failed. Any other error (the
  platform's, a cancel) ends the entry as it would a single run.
- A sweep chooses on the validation rows only (the training data's hold-out, the same rows for
  every variant): the competition's metric at the variant's kept epoch, in its direction, or
  the validation loss (`sweep.select`). Ties go to the earlier variant; a variant without a
  validation number ranks last.
- Weights: a sweep uploads its winner's (with the winner's own config in the metadata, so the
  file alone reproduces its predictions); an ensemble all its trained seeds in one safetensors
  file, each seed's tensors under `variants.<index>.` and the indices in the metadata's
  `ensemble_members`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from common.problems import clip
from common.protocol import Budget, EpochRecord, VariantOutcome, VariantsReport, json_safe
from datasets.metrics import get_metric
from workers.data import TrainData
from workers.spec import (
    ModelConfig,
    Variant,
    count_parameters,
    expand_variants,
    variant_budget_problems,
    variants_kind,
)
from workers.training import packed
from workers.training.outputs import save_weights
from workers.training.result import (
    BUDGET_EPOCHS,
    BUDGET_PARAMETERS,
    BUDGET_SECONDS,
    CANCELLED,
    COMPLETED,
    DIVERGED,
    EARLY_STOPPING,
    BudgetExceeded,
    TrainError,
    TrainResult,
)
from workers.training.trainer import train

# The reason an ensemble reports when its seeds stopped differently: the one most worth telling.
_REASON_ORDER = (BUDGET_SECONDS, DIVERGED, BUDGET_EPOCHS, EARLY_STOPPING, COMPLETED)

# A run report's note is at most 500 characters (the platform refuses longer ones).
NOTE_CHARS = 460

# A variant's own failure (left out of the choice); anything else ends the entry.
_VARIANT_FAULTS = (TrainError, FloatingPointError)


def train_entry(
    config: ModelConfig,
    data: TrainData,
    *,
    device: str = "cpu",
    on_epoch: Callable[[EpochRecord], None] | None = None,
    budget: Budget | None = None,
    out_dir: str | Path | None = None,
    should_stop: Callable[[], bool] | None = None,
    metric: str | None = None,
    pretrain_data=None,
) -> TrainResult:
    """`train()`'s arguments and result, for any entry: one model, a sweep or an ensemble.
    Epoch records of a sweep's or an ensemble's variants carry `variant` (from 0)."""
    kind = variants_kind(config)
    if kind is None:
        return train(
            config,
            data,
            device=device,
            on_epoch=on_epoch,
            budget=budget,
            out_dir=out_dir,
            should_stop=should_stop,
            metric=metric,
            pretrain_data=pretrain_data,
        )
    budget = budget or Budget()
    start = time.perf_counter()
    variants = expand_variants(config)
    _check_budget(config, data, budget, kind, len(variants))
    metric_name = metric or data.manifest.get("metric")
    outcomes = _train_variants(
        variants, data, device, on_epoch, budget, should_stop, metric_name, pretrain_data
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, _VARIANT_FAULTS):
            raise outcome
    trained = [o for o in outcomes if isinstance(o, TrainResult)]
    if any(r.stopped_reason == CANCELLED for r in trained):
        cancelled = next(r for r in trained if r.stopped_reason == CANCELLED)
        cancelled.seconds = time.perf_counter() - start
        return cancelled
    result = combine(config, variants, outcomes)
    if out_dir is not None:
        result.weights_path = _save(result, config, variants, Path(out_dir) / "weights.safetensors")
    result.seconds = time.perf_counter() - start
    return result


def combine(
    config: ModelConfig, variants: list[Variant], outcomes: list[TrainResult | BaseException]
) -> TrainResult:
    """The entry's result from its variants' (each a TrainResult, or the TrainError that failed
    it): the sweep's winner, or the ensemble's average. Raises TrainError when all failed."""
    if variants_kind(config) == "sweep":
        return _sweep_result(config, variants, outcomes)
    return _ensemble_result(config, variants, outcomes)


def _check_budget(config: ModelConfig, data: TrainData, budget: Budget, kind: str, n: int) -> None:
    """The intake's rules once more: the competition may have changed its budget since."""
    problems = variant_budget_problems(config, budget)
    if problems:
        raise BudgetExceeded(BUDGET_EPOCHS, "; ".join(f"{p.path}: {p.message}" for p in problems))
    if kind == "ensemble" and budget.params is not None:
        each = int(count_parameters(config, data.input_shape, data.n_outputs, inputs=data.inputs))
        if each * n > budget.params:
            raise BudgetExceeded(
                BUDGET_PARAMETERS,
                f"{n} seeds of a {each:,}-parameter model are {each * n:,} parameters; "
                f"the budget allows {budget.params:,}",
            )


def _train_variants(variants, data, device, on_epoch, budget, should_stop, metric, pretrain_data):
    """Each variant's TrainResult or the exception that ended it, in the variants' order."""

    def tagged(index: int):
        if on_epoch is None:
            return None
        return lambda record: on_epoch({**record, "variant": index})

    # The members' budget: each is capped by the entry's (its share was checked above), and
    # they share the entry's clock.
    member_budget = Budget(epochs=budget.epochs, params=budget.params, seconds=budget.seconds)
    # The packed engine measures the competition's metric as the dataset's default.
    if metric and metric != data.manifest.get("metric"):
        data = dataclasses.replace(data, manifest={**data.manifest, "metric": metric})
    if all(packed.pack_signature(v.config, data) is not None for v in variants):
        members = [
            packed.PackMember(v.config, member_budget, on_epoch=tagged(v.index), should_stop=should_stop)
            for v in variants
        ]
        return packed.train_packed(members, data, device=device)

    out: list[TrainResult | BaseException] = []
    start = time.perf_counter()
    for v in variants:
        left = member_budget
        if budget.seconds is not None:
            spent = time.perf_counter() - start
            left = dataclasses.replace(member_budget, seconds=max(budget.seconds - spent, 1e-6))
        try:
            out.append(
                train(
                    v.config,
                    data,
                    device=device,
                    on_epoch=tagged(v.index),
                    budget=left,
                    should_stop=should_stop,
                    metric=metric,
                    pretrain_data=pretrain_data,
                )
            )
        except Exception as exc:  # noqa: BLE001 - judged with the packed engine's outcomes above
            out.append(exc)
    return out


def _val_loss(result: TrainResult) -> float | None:
    """The validation loss of the epoch whose weights the variant kept."""
    for record in reversed(result.history):
        if record.get("phase", "train") != "train":
            continue
        if result.best_epoch is None or record.get("epoch") == result.best_epoch:
            value = record.get("val_loss")
            return float(value) if value is not None and np.isfinite(value) else None
    return None


def _val_metric_value(result: TrainResult) -> float | None:
    value = (result.val_metric or {}).get("value")
    return float(value) if value is not None and np.isfinite(value) else None


def _outcome(variant: Variant, outcome: TrainResult | BaseException) -> VariantOutcome:
    if isinstance(outcome, BaseException):
        return {"index": variant.index, "label": variant.label, "error": clip(outcome, NOTE_CHARS)}
    return {
        "index": variant.index,
        "label": variant.label,
        "stopped_reason": outcome.stopped_reason,
        "epochs_run": outcome.epochs_run,
        "val_metric": json_safe(outcome.val_metric),
        "val_loss": _val_loss(outcome),
    }


def _history(variants: list[Variant], outcomes) -> list[EpochRecord]:
    return [
        {**record, "variant": v.index}
        for v, o in zip(variants, outcomes, strict=True)
        if isinstance(o, TrainResult)
        for record in o.history
    ]


def _all_failed(what: str, variants: list[Variant], outcomes) -> TrainError:
    first = next((v, o) for v, o in zip(variants, outcomes, strict=True) if isinstance(o, BaseException))
    return TrainError(f"every {what} failed; {first[0].label}: {first[1]}")


def _failure_notes(variants: list[Variant], outcomes) -> list[str]:
    """One note for the variants that failed (a report holds few notes, each short)."""
    failed = [(v, o) for v, o in zip(variants, outcomes, strict=True) if isinstance(o, BaseException)]
    if not failed:
        return []
    listed = "; ".join(f"{v.index} ({v.label}): {clip(o, 120)}" for v, o in failed)
    return [clip(f"{len(failed)} of {len(variants)} variants failed and were left out: {listed}", NOTE_CHARS)]


def choose(results: Mapping[int, TrainResult], *, select: str, higher_is_better: bool) -> int | None:
    """The index of the variant best on the validation rows: by the competition's metric in its
    direction (`select="metric"`), or the lowest validation loss. Ties go to the lower index;
    a variant without a number ranks last; None when none has one."""
    scored = []
    for index in sorted(results):
        if select == "val_loss":
            value = _val_loss(results[index])
            key = value
        else:
            value = _val_metric_value(results[index])
            key = None if value is None else (-value if higher_is_better else value)
        if key is not None:
            scored.append((key, index))
    return min(scored)[1] if scored else None


def _sweep_result(config: ModelConfig, variants: list[Variant], outcomes) -> TrainResult:
    trained = {v.index: o for v, o in zip(variants, outcomes, strict=True) if isinstance(o, TrainResult)}
    if not trained:
        raise _all_failed("variant of the sweep", variants, outcomes)
    select = config.sweep.select
    any_result = next(iter(trained.values()))
    kept = choose(trained, select=select, higher_is_better=get_metric(any_result.metric).higher_is_better)
    notes = _failure_notes(variants, outcomes)
    if kept is None:
        kept = min(trained)
        notes.append(f"no variant has a validation {select.replace('_', ' ')}: kept the first that trained")
    winner = trained[kept]
    chosen = variants[kept]
    if select == "metric":
        value = _val_metric_value(winner)
        by = f"validation {winner.metric} {value:.4f}" if value is not None else "validation"
    else:
        by = f"validation loss {_val_loss(winner):.4f}"
    result = dataclasses.replace(
        winner,
        history=_history(variants, outcomes),
        epochs_run=sum(r.epochs_run for r in trained.values()),
        notes=[
            f"the sweep trained {len(variants)} variants and kept variant {kept} ({chosen.label}), "
            f"best on the validation rows: {by}",
            *winner.notes,
            *notes,
        ],
        variants=_report("sweep", select, kept, variants, outcomes),
    )
    result.stop_message = f"variant {kept} ({chosen.label}): {winner.stop_message}"
    return result


def _ensemble_result(config: ModelConfig, variants: list[Variant], outcomes) -> TrainResult:
    trained = [(v, o) for v, o in zip(variants, outcomes, strict=True) if isinstance(o, TrainResult)]
    if not trained:
        raise _all_failed("seed of the ensemble", variants, outcomes)
    results = [o for _, o in trained]
    first = results[0]
    result = dataclasses.replace(
        first,
        history=_history(variants, outcomes),
        epochs_run=sum(r.epochs_run for r in results),
        best_epoch=None,
        val_metric=None,  # each seed's is in the report; the average has none of its own
        n_parameters=sum(r.n_parameters for r in results),
        n_trainable=sum(r.n_trainable for r in results),
        notes=[
            f"the ensemble averages the predictions of {len(results)} seeds "
            f"({', '.join(v.label for v, _ in trained)})",
            *dict.fromkeys(note for r in results for note in r.notes),
            *_failure_notes(variants, outcomes),
        ],
        variants=_report("ensemble", "mean", None, variants, outcomes),
    )
    if first.task_type == "classification":
        # Probabilities average; the label is the class the average favours.
        proba = np.mean([r.probabilities for r in results], axis=0)
        result.probabilities = proba
        result.predictions = np.asarray(first.classes, dtype=object)[proba.argmax(axis=1)]
    else:
        result.predictions = np.mean([np.asarray(r.predictions, dtype=np.float64) for r in results], axis=0)
    reasons = {r.stopped_reason for r in results}
    result.stopped_reason = next((r for r in _REASON_ORDER if r in reasons), first.stopped_reason)
    counts = Counter(r.stopped_reason.replace("_", " ") for r in results)
    result.stop_message = f"{len(results)} seeds trained: " + ", ".join(
        f"{n} {why}" for why, n in counts.items()
    )
    result.state_dict = {
        f"variants.{v.index}.{name}": tensor
        for v, o in trained
        if o.state_dict is not None
        for name, tensor in o.state_dict.items()
    }
    return result


def _report(kind: str, select: str, kept: int | None, variants: list[Variant], outcomes) -> VariantsReport:
    return {
        "kind": kind,
        "select": select,
        "kept": kept,
        "outcomes": [_outcome(v, o) for v, o in zip(variants, outcomes, strict=True)],
    }


def _save(result: TrainResult, config: ModelConfig, variants: list[Variant], path: Path) -> Path | None:
    if not result.state_dict:
        return None
    report = result.variants or {}
    if report.get("kind") == "sweep":
        return save_weights(result, variants[report["kept"]].config, path)
    members = [o["index"] for o in report.get("outcomes", []) if "error" not in o]
    return save_weights(result, config, path, extra={"ensemble_members": json.dumps(members)})

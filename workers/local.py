"""Train a model config on a catalog dataset on this machine, as a worker would.

    python -m workers.local examples/digits_cnn.yaml --dataset digits [--device cpu|cuda] [--out DIR]

The config goes through the platform's own validation against the dataset, the
trainer enforces a competition's budget when one is given, and the outputs are
what a worker uploads (predictions.csv, weights.safetensors) plus metrics.json
with the score on the catalog's hidden test labels.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common.protocol import Budget
from workers.data import TrainData, load_dataset
from workers.spec import ConfigError, ModelConfig, expand_variants, load_config, parse_config
from workers.training import COMPLETED, TrainError, TrainResult, plan_for, predictions_csv, train_entry


def score_on_test_labels(result: TrainResult, data: TrainData, metric: str | None = None) -> float | None:
    """A metric (default: the run's) on the hidden test labels (local runs only: the catalog has them)."""
    if data.test_labels is None or result.predictions is None:
        return None
    from datasets.metrics import get_metric

    metric = get_metric(metric or result.metric)
    if result.task_type == "classification":
        y = data.target_indices(data.test_labels)
        pred = result.probabilities if metric.needs_proba else result.probabilities.argmax(axis=1)
        return metric(y, pred, len(result.classes))
    return metric(np.asarray(data.test_labels, dtype=np.float64), result.predictions, None)


def run_local(
    config_path: str | Path,
    dataset: str,
    *,
    device: str = "cpu",
    out_dir: str | Path | None = None,
    epochs: int | None = None,
    budget: Budget | None = None,
    progress: bool = True,
) -> dict:
    """What the command line does; returns the metrics JSON it writes.

    `budget` is a competition's budget, enforced by the trainer as on the
    platform's workers: a run it stops is reported with the trainer's reason."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    config_path = Path(config_path)
    config = parse_config(config_path.read_text(encoding="utf-8"))
    if epochs is not None:
        config = with_epochs(config, epochs)
    data = load_dataset(dataset, with_test_labels=True)
    budget = budget or Budget()
    refused = _check_config_for(config, data, budget)
    out = Path(out_dir) if out_dir else Path("var") / "runs" / f"{config_path.stem}-{dataset}"
    console = Console(stderr=True)

    def say(text: str) -> None:
        # Plain text on one line: no rich markup in config paths or messages, no wrapping.
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    for problem in refused:
        say(
            f"note: the platform would refuse this config under that budget: {problem.path}: {problem.message}"
        )

    def capped(n: int) -> int:
        return n if budget.epochs is None else min(n, budget.epochs)

    total = sum(capped(phase.epochs) for v in expand_variants(config) for phase in plan_for(v.config).phases)

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    ) as bar:
        task = bar.add_task(config_path.stem, total=total, info="")

        def on_epoch(rec):
            vm = rec["val_metric"]
            info = f"{rec['phase']} loss {rec['train_loss']:.4f}"
            if "variant" in rec:
                info = f"variant {rec['variant']} {info}"
            if vm is not None:
                info += f"  val {vm['name']} {vm['value']:.4f}"
            bar.update(task, advance=1, info=info)

        result = train_entry(config, data, device=device, on_epoch=on_epoch, budget=budget, out_dir=out)

    if result.stopped_reason != COMPLETED:
        say(f"stopped ({result.stopped_reason}): {result.stop_message}")
    for note in result.notes:
        say(f"note: {note}")
    score = score_on_test_labels(result, data)
    test_metrics = {}
    if score is not None:
        test_metrics[result.metric] = score
        if result.task_type == "classification" and result.metric != "accuracy":
            test_metrics["accuracy"] = score_on_test_labels(result, data, "accuracy")
    out.mkdir(parents=True, exist_ok=True)
    if result.predictions is not None:
        (out / "predictions.csv").write_bytes(predictions_csv(result, data.manifest))
    else:  # an earlier run's outputs in the same folder would pass for this one's
        for stale in ("predictions.csv", "weights.safetensors"):
            (out / stale).unlink(missing_ok=True)
    summary = result.summary() | {
        "dataset": dataset,
        "config": str(config_path),
        "test_metric": None if score is None else {"name": result.metric, "value": score},
        "test_metrics": test_metrics,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if result.predictions is None:
        raise TrainError(f"no predictions: {result.stop_message} (metrics in {out / 'metrics.json'})")
    vm = result.val_metric
    val_text = f"{vm['name']} {vm['value']:.4f}" if vm else "n/a"
    say(
        f"{config_path.name} on {dataset}: validation {val_text}"
        + "".join(f", test {name} {value:.4f}" for name, value in test_metrics.items())
        + f"; {result.epochs_run} epochs in {result.seconds:.1f} s ({result.stopped_reason}); outputs in {out}"
    )
    return summary


def _check_config_for(config: ModelConfig, data: TrainData, budget: Budget) -> list:
    """The platform's own validation against the dataset, so a local run fails
    with the same path-named problems a submission would get. Returns the
    problems the budget alone adds (epochs over it): the platform refuses
    those, locally the trainer's cap applies, so the runner only notes them.
    Parameters over the budget fail in the trainer, as on a worker."""
    from datasets.catalog import BUILTINS
    from datasets.catalog import build as build_bundle
    from workers.spec import validate_for_dataset

    pretrain = config.pretrain.dataset if config.pretrain is not None else None
    allowed = [pretrain] if pretrain in BUILTINS else []  # locally, any catalog dataset may pre-train
    kwargs = {
        "allowed_pretrain": allowed,
        "pretrain_manifests": {p: build_bundle(p).manifest for p in allowed},
    }
    problems = validate_for_dataset(config, data.manifest, **kwargs)
    if problems:
        raise ConfigError(problems)
    if budget.epochs is None:
        return []
    return validate_for_dataset(config, data.manifest, budget=Budget(epochs=budget.epochs), **kwargs)


def with_epochs(config: ModelConfig, epochs: int) -> ModelConfig:
    """A copy of the config with train.epochs (and pretrain.epochs) set: for quick runs.

    The copy goes through the whole schema again (`load_config`), so it is a
    config the platform would accept. A warm-up as long as the cut run is
    shortened to leave one epoch after it; a one-epoch run has no room for
    one, so `warmup_cosine` becomes plain `cosine` there."""
    data = config.model_dump(mode="json")
    data["train"]["epochs"] = epochs
    if data.get("pretrain"):
        data["pretrain"]["epochs"] = epochs
    for holder in (data["train"], data.get("pretrain") or {}):
        scheduler = holder.get("scheduler") or {}
        if scheduler.get("warmup_epochs", 0) >= epochs >= 1:
            scheduler["warmup_epochs"] = epochs - 1
            if epochs == 1 and scheduler.get("name") == "warmup_cosine":
                scheduler["name"] = "cosine"
    return load_config(data)


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a finite number > 0 of `kind` (int or float)."""
    what = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {what}: {text!r}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workers.local", description="Train a model config locally."
    )
    parser.add_argument("config", help="a model config, YAML or JSON")
    parser.add_argument("--dataset", required=True, help="a catalog dataset slug, e.g. digits")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default=None, help="output folder (default var/runs/<config>-<dataset>)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (quick checks)")
    limits = parser.add_argument_group(
        "budget", "a competition's budget, enforced by the trainer as on the platform's workers"
    )
    limits.add_argument("--max-seconds", type=_positive(float), default=None, help="wall-clock seconds")
    limits.add_argument("--max-epochs", type=_positive(int), default=None, help="epochs per phase")
    limits.add_argument("--max-params", type=_positive(int), default=None, help="model parameters")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is fastest for small models on a busy machine)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        from workers.environment import set_threads

        set_threads(args.threads)
    try:
        run_local(
            args.config,
            args.dataset,
            device=args.device,
            out_dir=args.out,
            epochs=args.epochs,
            budget=Budget(epochs=args.max_epochs, params=args.max_params, seconds=args.max_seconds),
            progress=not args.no_progress,
        )
    except TrainError as exc:
        parser.exit(1, f"error: {exc}\n")
    except ConfigError as exc:
        lines = "\n".join(f"  {p.path or '(config)'}: {p.message}" for p in exc.problems)
        parser.exit(1, f"error: {args.config} has problems:\n{lines}\n")
    except (OSError, KeyError) as exc:  # a missing file, an unknown dataset slug
        parser.exit(1, f"error: {exc.args[-1] if isinstance(exc, KeyError) else exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

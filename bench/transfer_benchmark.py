"""The built-in transfer pair measured: `digits` (source) -> `digits-faded-fewshot` (target).

One network (`examples/pretrain_lora_digits.yaml`'s CNN) trained by the platform's trainer
(`workers.training.train`) three ways on the target's 50 labelled images, each over several
seeds (the config's `seed`: initial weights, batches, validation split):

- scratch: the same config without `pretrain` and `finetune`;
- full fine-tune: pre-trained on `digits`, then every weight trained on the target;
- LoRA: the example itself (pre-trained, frozen backbone, rank-8 adapters and the head).

A fourth row, the source model (trained on `digits` only, never on the target), says how
large the domain shift is: its accuracy on the target's rows, and on `digits`' own clean test
rows (360).

`--split test` scores the 359 hidden test rows (the local runner's view: the catalog has
their labels). `--split design` scores faded copies of the labelled pool's other 1,028
images instead: the split the pair's design and hyper-parameters were chosen on, so the
test rows were looked at once, for the figures in docs/benchmarks.md.

Intervals: the difference of two arms is paired over seeds (Student t, seeds - 1 degrees
of freedom) and bootstrapped over test rows (10,000 resamples of the rows, each row's
correctness averaged over the seeds; percentile interval, seed 0).

    python bench/transfer_benchmark.py [--seeds 5] [--split test|design] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from datasets.catalog import faded_rows  # noqa: E402
from workers import training as trainer  # noqa: E402
from workers.data import TrainData, load_dataset  # noqa: E402
from workers.spec import ModelConfig, load_config, parse_config  # noqa: E402

EXAMPLE = ROOT / "examples" / "pretrain_lora_digits.yaml"
SOURCE, TARGET = "digits", "digits-faded-fewshot"
RESAMPLES = 10_000
ARMS = ("scratch", "full fine-tune", "LoRA")
# The source model on the source's own (clean) test rows: the accuracy the shift takes away.
CLEAN = "(same, clean digits)"


def arm_configs(example: ModelConfig) -> dict[str, ModelConfig]:
    """The three arms: one network, one training recipe on the target, three starting points."""
    lora = example.model_dump(mode="json")
    scratch = {k: v for k, v in lora.items() if k not in ("pretrain", "finetune")}
    full = {**lora, "finetune": {"mode": "full"}}
    return {"scratch": load_config(scratch), "full fine-tune": load_config(full), "LoRA": load_config(lora)}


def with_seed(config: ModelConfig, seed: int) -> ModelConfig:
    return config.model_copy(update={"seed": seed})


def target_data(split: str) -> tuple[TrainData, np.ndarray]:
    """The target dataset and the labels of the rows it is scored on: its hidden test rows,
    or (split "design") faded copies of labelled-pool images none of the shots."""
    data = load_dataset(TARGET, with_test_labels=True)
    if split == "test":
        return data, np.asarray(data.test_labels, dtype=str)
    x, y = faded_rows("design")
    design = TrainData(
        X_train=data.X_train,
        y_train=data.y_train,
        X_test=x.reshape(-1, *data.input_shape).astype(data.X_test.dtype),
        test_ids=np.array([f"design-{i}" for i in range(len(y))]),
        manifest=data.manifest,
        slug=TARGET,
    )
    return design, np.array([str(v) for v in y])


def source_only(source: TrainData, target: TrainData) -> TrainData:
    """The source's training rows with the target's rows to predict, then the source's own
    test rows: the source model's view, on both domains."""
    return TrainData(
        X_train=source.X_train,
        y_train=source.y_train,
        X_test=np.concatenate([target.X_test, source.X_test]),
        test_ids=np.concatenate([target.test_ids, source.test_ids]),
        manifest=source.manifest,
        slug=SOURCE,
    )


def run(config: ModelConfig, data: TrainData, labels: np.ndarray, source: TrainData) -> dict:
    t0 = time.perf_counter()
    result = trainer.train(config, data, pretrain_data={SOURCE: source})
    if result.predictions is None:
        raise SystemExit(f"no predictions: {result.stop_message}")
    correct = np.asarray(result.predictions, dtype=str) == labels
    return {
        "correct": correct,
        "accuracy": float(correct.mean()),
        "trainable": int(result.n_trainable),
        "parameters": int(result.n_parameters),
        "seconds": time.perf_counter() - t0,
    }


def paired_seed_interval(diffs: np.ndarray) -> tuple[float, float]:
    """The 95% t interval of the mean of per-seed differences."""
    half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    return float(diffs.mean() - half), float(diffs.mean() + half)


def row_bootstrap_interval(per_row: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The 95% percentile interval of the mean of `per_row` over resampled rows."""
    idx = rng.integers(0, len(per_row), (RESAMPLES, len(per_row)))
    means = per_row[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(a: list[dict], b: list[dict], rng: np.random.Generator) -> dict:
    """Arm a minus arm b, in accuracy points, with both intervals."""
    diffs = np.array([x["accuracy"] - y["accuracy"] for x, y in zip(a, b, strict=True)])
    per_row = np.mean([x["correct"].astype(float) - y["correct"] for x, y in zip(a, b, strict=True)], axis=0)
    seeds_lo, seeds_hi = paired_seed_interval(diffs)
    rows_lo, rows_hi = row_bootstrap_interval(per_row, rng)
    return {
        "points": float(diffs.mean() * 100),
        "per_seed": [float(d * 100) for d in diffs],
        "seeds_interval": [seeds_lo * 100, seeds_hi * 100],
        "rows_interval": [rows_lo * 100, rows_hi * 100],
        "verdict": verdict(seeds_lo, seeds_hi, rows_lo, rows_hi),
    }


def verdict(seeds_lo: float, seeds_hi: float, rows_lo: float, rows_hi: float) -> str:
    """Beyond noise only when both intervals leave zero out on the same side."""
    if seeds_lo > 0 and rows_lo > 0:
        return "higher, beyond noise"
    if seeds_hi < 0 and rows_hi < 0:
        return "lower, beyond noise"
    return "within noise (an interval holds zero)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per arm (at least 3)")
    parser.add_argument("--split", choices=["test", "design"], default="test")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()
    if args.seeds < 3:
        parser.error("--seeds must be at least 3: an interval over seeds needs them")
    torch.set_num_threads(args.threads)

    example = parse_config(EXAMPLE.read_text(encoding="utf-8"))
    configs = arm_configs(example)
    source = load_dataset(SOURCE, with_test_labels=True)
    target, labels = target_data(args.split)
    seeds = list(range(args.seeds))
    print(
        f"{SOURCE} ({len(source.y_train):,} training images) -> {TARGET} ({len(target.y_train)} training "
        f"images), scored on {len(labels)} {args.split} rows; seeds {seeds}",
        flush=True,
    )

    results: dict[str, list[dict]] = {name: [] for name in (*ARMS, "source model only", CLEAN)}
    for seed in seeds:
        for name, config in configs.items():
            r = run(with_seed(config, seed), target, labels, source)
            results[name].append(r)
            print(f"  seed {seed} {name}: accuracy {r['accuracy']:.4f} ({r['seconds']:.1f} s)", flush=True)
        both = run(
            with_seed(configs["scratch"], seed),
            source_only(source, target),
            np.concatenate([labels, np.asarray(source.test_labels, dtype=str)]),
            source,
        )
        for name, rows in (
            ("source model only", slice(None, len(labels))),
            (CLEAN, slice(len(labels), None)),
        ):
            r = {**both, "correct": both["correct"][rows], "accuracy": float(both["correct"][rows].mean())}
            results[name].append(r)
            print(f"  seed {seed} {name}: accuracy {r['accuracy']:.4f} ({r['seconds']:.1f} s)", flush=True)

    print()
    header = "".join(f"{f'seed {s}':>9}" for s in seeds)
    print(f"{'arm':<20}{header}{'mean':>9}{'trainable':>11}{'of':>8}{'s/run':>7}")
    summary: dict = {"split": args.split, "seeds": seeds, "rows": len(labels), "arms": {}}
    for name, runs in results.items():
        accs = [r["accuracy"] for r in runs]
        mean_s = float(np.mean([r["seconds"] for r in runs]))
        trainable, total = runs[0]["trainable"], runs[0]["parameters"]
        summary["arms"][name] = {
            "accuracy": accs,
            "mean": float(np.mean(accs)),
            "trainable": trainable,
            "parameters": total,
            "seconds": mean_s,
        }
        cells = "".join(f"{a:>9.4f}" for a in accs)
        print(f"{name:<20}{cells}{np.mean(accs):>9.4f}{trainable:>11,}{total:>8,}{mean_s:>7.1f}")

    rng = np.random.default_rng(0)
    print()
    summary["differences"] = {}
    for a, b in (("LoRA", "scratch"), ("full fine-tune", "scratch"), ("LoRA", "full fine-tune")):
        d = compare(results[a], results[b], rng)
        summary["differences"][f"{a} - {b}"] = d
        per_seed = ", ".join(f"{p:+.1f}" for p in d["per_seed"])
        print(
            f"{a} - {b}: {d['points']:+.2f} points (per seed {per_seed}); 95% interval paired over seeds "
            f"[{d['seeds_interval'][0]:+.2f}, {d['seeds_interval'][1]:+.2f}], bootstrap over rows "
            f"[{d['rows_interval'][0]:+.2f}, {d['rows_interval'][1]:+.2f}]"
            f": {d['verdict']}"
        )
    lora, full = summary["arms"]["LoRA"], summary["arms"]["full fine-tune"]
    share = lora["trainable"] / full["trainable"]
    print(
        f"LoRA trains {lora['trainable']:,} parameters, full fine-tuning {full['trainable']:,} ({share:.1%})"
    )
    summary["lora_trainable_share"] = share
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    scratch_mean = summary["arms"]["scratch"]["mean"]
    print(
        f"bench: transfer metric={lora['mean']:.4f} baseline={scratch_mean:.4f} "
        f"ratio={lora['mean'] / max(scratch_mean, 1e-9):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The shapes-32 benchmark's margins, measured on the platform's trainer.

1. Classical models on raw pixels: logistic regression, an RBF SVC and a random forest
   (scikit-learn), on the standardised 3,072 pixel values of each image.
2. The example CNN (`examples/shapes_cnn_augment.yaml`) trained by `workers.training.train`,
   with its augmentation and, in the same run, with the augmentation removed (everything
   else equal: seed, initial weights, batches, epochs).

Accuracy is on the 25,000 hidden test images (the local runner's view: labels from
test_labels.csv). Intervals are percentile bootstraps over the test rows (10,000 resamples,
seed 0); the augmentation's gain is judged by the paired bootstrap of the difference.

    python bench/image_benchmark.py [--epochs N] [--threads 1] [--svc-rows 5000] [--part all|cnn|classical]
    python bench/image_benchmark.py --combine cnn.json classical.json
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

from workers import training as trainer  # noqa: E402
from workers.data import load_dataset  # noqa: E402
from workers.local import with_epochs  # noqa: E402
from workers.spec import parse_config  # noqa: E402

EXAMPLE = ROOT / "examples" / "shapes_cnn_augment.yaml"
RESAMPLES = 10_000


def interval(correct: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    idx = rng.integers(0, len(correct), (RESAMPLES, len(correct)))
    means = correct[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def classical(data, labels: np.ndarray, *, threads: int, svc_rows: int) -> dict[str, dict]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x_train = data.X_train.reshape(len(data.X_train), -1).astype(np.float32)
    x_test = data.X_test.reshape(len(data.X_test), -1).astype(np.float32)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    y = np.asarray(data.classes, dtype=object)[data.target_indices()]
    rows = np.random.default_rng(0).permutation(len(y))[:svc_rows]
    models = {
        "logistic regression": (LogisticRegression(max_iter=300, C=0.01), slice(None)),
        "random forest (200 trees)": (
            RandomForestClassifier(n_estimators=200, n_jobs=threads, random_state=0),
            slice(None),
        ),
        f"RBF SVC ({svc_rows:,} training rows)": (SVC(C=10.0, gamma="scale"), rows),
    }
    out = {}
    for name, (model, subset) in models.items():
        t0 = time.perf_counter()
        model.fit(x_train[subset], y[subset])
        correct = model.predict(x_test) == labels
        out[name] = {"correct": correct, "seconds": time.perf_counter() - t0}
        print(f"{name}: accuracy {correct.mean():.4f} ({out[name]['seconds']:.0f} s)", flush=True)
    return out


def cnn(config, data, labels: np.ndarray, label: str, device: str = "cpu") -> dict:
    t0 = time.perf_counter()

    def on_epoch(rec):
        metric = rec["val_metric"]["value"] if rec["val_metric"] else float("nan")
        print(
            f"  {label} epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}, "
            f"val loss {rec['val_loss']:.4f}, val accuracy {metric:.4f}, {rec['seconds']:.1f} s",
            flush=True,
        )

    result = trainer.train(config, data, on_epoch=on_epoch, device=device)
    correct = np.asarray(result.predictions) == labels
    seconds = time.perf_counter() - t0
    print(f"{label}: accuracy {correct.mean():.4f} ({seconds:.0f} s)", flush=True)
    return {"correct": correct, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the example's own")
    parser.add_argument(
        "--threads", type=int, default=1, help="2 threads on a shared 2-core box wait on each other"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the CNNs train")
    parser.add_argument("--svc-rows", type=int, default=5_000)
    parser.add_argument(
        "--part",
        choices=["all", "cnn", "classical"],
        default="all",
        help="run one half (two processes use two cores on a shared box); --combine joins them",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument(
        "--combine", type=Path, nargs=2, default=None, metavar="JSON", help="cnn.json classical.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.combine:
        return combine(*args.combine)

    t0 = time.perf_counter()
    data = load_dataset("shapes-32", with_test_labels=True)
    labels = np.asarray(data.test_labels, dtype=object)
    print(
        f"shapes-32: {len(data.X_train):,} training and {len(labels):,} test images, "
        f"built in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    config = parse_config(EXAMPLE.read_text(encoding="utf-8"))
    if args.epochs:
        config = with_epochs(config, args.epochs)
    plain = config.model_copy(update={"train": config.train.model_copy(update={"augment": None})})

    results = {}
    if args.part in ("all", "cnn"):
        results["CNN with augmentation"] = cnn(config, data, labels, "CNN with augmentation", args.device)
        results["CNN, no augmentation"] = cnn(plain, data, labels, "CNN, no augmentation", args.device)
    if args.part in ("all", "classical"):
        results.update(classical(data, labels, threads=args.threads, svc_rows=args.svc_rows))

    rng = np.random.default_rng(0)
    print()
    print(f"{'model':<36}{'accuracy':>10}{'95% interval':>20}{'seconds':>10}")
    summary = {}
    for name, r in results.items():
        lo, hi = interval(r["correct"].astype(np.float64), rng)
        acc = float(r["correct"].mean())
        summary[name] = {"accuracy": acc, "interval": [lo, hi], "seconds": r["seconds"]}
        print(f"{name:<36}{acc:>10.4f}{f'[{lo:.4f}, {hi:.4f}]':>20}{r['seconds']:>10.0f}")
    if "CNN with augmentation" in results:
        aug, no_aug = results["CNN with augmentation"]["correct"], results["CNN, no augmentation"]["correct"]
        diff = aug.astype(np.float64) - no_aug.astype(np.float64)
        d_lo, d_hi = interval(diff, rng)
        print(
            f"augmentation - no augmentation: {diff.mean() * 100:+.2f} points, paired 95% interval "
            f"[{d_lo * 100:+.2f}, {d_hi * 100:+.2f}] ({'beyond' if d_lo > 0 else 'NOT beyond'} the interval)"
        )
        summary["augmentation_gain"] = {"points": diff.mean() * 100, "interval": [d_lo * 100, d_hi * 100]}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if args.part == "all":
        return report(summary)
    return 0


def report(summary: dict) -> int:
    """The CNN with augmentation against the best classical model, and the bench line."""
    acc_aug = summary["CNN with augmentation"]["accuracy"]
    classical_models = {k: v for k, v in summary.items() if not k.startswith("CNN") and "accuracy" in v}
    best_name = max(classical_models, key=lambda k: classical_models[k]["accuracy"])
    best = classical_models[best_name]["accuracy"]
    gain = summary["augmentation_gain"]
    print(
        f"augmentation gain {gain['points']:+.2f} points, paired 95% interval "
        f"[{gain['interval'][0]:+.2f}, {gain['interval'][1]:+.2f}]"
    )
    print(
        f"CNN with augmentation - best classical ({best_name}): {(acc_aug - best) * 100:+.2f} points (goal >= +15)"
    )
    print(
        f"bench: shapes32_cnn_accuracy metric={acc_aug:.4f} baseline={best:.4f} ratio={acc_aug / max(best, 1e-9):.3f}"
    )
    return 0


def combine(cnn_json: Path, classical_json: Path) -> int:
    return report({**json.loads(classical_json.read_text()), **json.loads(cnn_json.read_text())})


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: score a 1,000,000-row predictions CSV (parse, validate, public and private
metric) with datasets.predictions and datasets.scoring, against the naive pandas.read_csv +
sklearn.metrics path.

    .venv/bin/python bench/scoring.py [--rows N] [--runs R]

Both paths start from the file's bytes and an answer key already in memory; the
naive path neither validates nor reports problems, it only reads, aligns by id
(a merge) and calls scikit-learn on each split. Runs alternate between the two
paths and the median is reported. Goal: <= 1.5 s and a ratio <= 0.5.

The scorer also computes the public score's bootstrap interval (1,000 resamples); its
time is reported beside, against resampling every public row (what it did before the
row cap), and for ROC AUC on the probability case.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.answer_key import make_answer_key  # noqa: E402
from datasets.predictions import parse_predictions  # noqa: E402
from datasets.scoring import bootstrap_ci, score  # noqa: E402

MAX_BYTES = 512 * 1024 * 1024


def make_case(kind: str, rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.arange(100_000, 100_000 + rows)
    if kind == "regression":
        manifest = {"id_column": "id", "target": "target", "task_type": "regression", "classes": None}
        y = rng.normal(100, 30, rows).round(3)
        labels_csv = "id,target\n" + "\n".join(f"{i},{v}" for i, v in zip(ids, y, strict=True)) + "\n"
    else:
        k = 10 if kind == "labels" else 3
        classes = [f"class_{c}" for c in range(k)]
        manifest = {"id_column": "id", "target": "label", "task_type": "classification", "classes": classes}
        y = rng.integers(0, k, rows)
        labels_csv = "id,label\n" + "\n".join(f"{i},{classes[c]}" for i, c in zip(ids, y, strict=True)) + "\n"
    key = make_answer_key(labels_csv.encode(), manifest, seed=1, public_fraction=0.3)
    order = rng.permutation(rows)  # participants need not keep the sample's row order
    if kind == "labels":
        guess = np.where(rng.random(rows) < 0.7, y, rng.integers(0, 10, rows))
        body = "\n".join(f"{ids[i]},{classes[guess[i]]}" for i in order)
        data, metric = ("id,label\n" + body + "\n").encode(), "accuracy"
    elif kind == "proba":
        raw = rng.integers(1, 1000, (rows, 3))
        raw[np.arange(rows), y] += 800
        p = np.round(raw / raw.sum(axis=1, keepdims=True), 6)
        p[:, 2] = np.round(1.0 - p[:, 0] - p[:, 1], 6)
        body = "\n".join(f"{ids[i]},{p[i, 0]:.6f},{p[i, 1]:.6f},{p[i, 2]:.6f}" for i in order)
        data, metric = ("id," + ",".join(classes) + "\n" + body + "\n").encode(), "log_loss"
    else:
        guess = y + rng.normal(0, 10, rows)
        body = "\n".join(f"{ids[i]},{guess[i]:.4f}" for i in order)
        data, metric = ("id,target\n" + body + "\n").encode(), "rmse"
    key_frame = pd.read_csv(io.BytesIO(key.to_bytes()))
    return manifest, key, key_frame, data, metric


def ours(manifest, key, data, metric):
    preds = parse_predictions(data, answer_key=key, manifest=manifest, metric=metric, max_bytes=MAX_BYTES)
    return score(key, preds, metric)


def naive(manifest, key_frame, data, metric):
    frame = pd.read_csv(io.BytesIO(data))
    merged = key_frame.merge(frame, on="id", how="left")
    out = []
    for split in ("public", "private"):
        part = merged[merged["split"] == split]
        if metric == "accuracy":
            out.append(skm.accuracy_score(part["target"], part[manifest["target"]]))
        elif metric == "log_loss":
            out.append(
                skm.log_loss(part["target"], part[manifest["classes"]].to_numpy(), labels=manifest["classes"])
            )
        else:
            out.append(skm.root_mean_squared_error(part["target_x"], part["target_y"]))
    return tuple(out)


def interval_times(manifest, key, data, metric, runs) -> tuple[float, float]:
    """Median time of the scorer's interval, and one run of the full-split bootstrap."""
    preds = parse_predictions(data, answer_key=key, manifest=manifest, metric=metric, max_bytes=MAX_BYTES)
    capped = statistics.median(timed(bootstrap_ci, key, preds, metric)[0] for _ in range(runs))
    full = timed(lambda: bootstrap_ci(key, preds, metric, max_rows=10**9))[0] if metric != "roc_auc" else None
    return capped, full


def timed(fn, *args):
    t = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows_out, intervals = [], []
    for kind in ("labels", "proba", "regression"):
        manifest, key, key_frame, data, metric = make_case(kind, args.rows)
        ours_t, naive_t = [], []
        for _ in range(args.runs):
            t, a = timed(ours, manifest, key, data, metric)
            ours_t.append(t)
            t, b = timed(naive, manifest, key_frame, data, metric)
            naive_t.append(t)
            assert np.allclose(a, b, rtol=0, atol=1e-9), (
                kind,
                a,
                b,
            )  # the same scores, or the timing is moot
        o, n = statistics.median(ours_t), statistics.median(naive_t)
        rows_out.append((kind, metric, len(data), o, n))
        intervals.append((kind, metric, *interval_times(manifest, key, data, metric, args.runs)))
        if kind == "proba":
            # ROC AUC's resamples cost the most (one sort per class each before the counts).
            intervals.append((kind, "roc_auc", *interval_times(manifest, key, data, "roc_auc", args.runs)))
    print(f"{'case':<11} {'metric':<9} {'file MB':>8} {'ours s':>8} {'naive s':>8} {'ratio':>6}")
    for kind, metric, size, o, n in rows_out:
        print(f"{kind:<11} {metric:<9} {size / 1e6:>8.1f} {o:>8.3f} {n:>8.3f} {o / n:>6.2f}")
    print()
    print(f"{'interval of':<11} {'metric':<9} {'ours s':>8} {'all rows s':>10}")
    for kind, metric, capped, full in intervals:
        print(f"{kind:<11} {metric:<9} {capped:>8.3f} {'(not run)' if full is None else f'{full:.3f}':>10}")
    # The headline is the slowest of our cases, against its own baseline.
    kind, metric, size, o, n = max(rows_out, key=lambda r: r[3])
    print(f"bench: scoring metric={o:.3f} baseline={n:.3f} ratio={o / n:.2f}")


if __name__ == "__main__":
    main()

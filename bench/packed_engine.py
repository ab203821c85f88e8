"""The packed training engine in-process: N digits-size entries of one architecture
trained one after another (`train()`, as a worker runs them today) against the same
entries trained as one pack (`train_packed`), in the same run.

Two architectures: an MLP (64 -> 64 -> 10, dropout) and the digits CNN
(`examples/digits_cnn.yaml`). The entries differ as a sweep and an ensemble differ: seed
(so initialisation, validation split, batch order and dropout), learning rate, optimiser
and schedule. Prints, per architecture, the wall time of each way, trainings per minute,
and how far each packed entry's test probabilities are from its solo run's (the
contract's tolerance: largest absolute difference, rows whose class differs). The full
throughput through the worker's code path is `bench/throughput.py`.

    python bench/packed_engine.py [--members 16] [--epochs 3] [--threads 1] [--device cpu]
                                  [--only mlp|cnn] [--reorder-baseline]

Ends with `bench: packed_engine metric=<packed trainings/min> baseline=<one after another>
ratio=<packed/baseline>` over both architectures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workers.data import load_dataset  # noqa: E402
from workers.local import with_epochs  # noqa: E402
from workers.spec import load_config, parse_config  # noqa: E402
from workers.training import train  # noqa: E402
from workers.training.packed import PackMember, train_packed  # noqa: E402

OPTIMIZERS = [
    {"name": "adam", "lr": 0.003},
    {"name": "adam", "lr": 0.001},
    {"name": "adamw", "lr": 0.002, "weight_decay": 0.01},
    {"name": "momentum", "lr": 0.02},
]
SCHEDULERS = [
    {"name": "cosine"},
    {"name": "constant"},
    {"name": "one_cycle"},
    {"name": "step", "step_epochs": 1, "gamma": 0.7},
]


def mlp(i: int, epochs: int):
    return load_config(
        {
            "version": 1,
            "seed": i,
            "model": {
                "init": "he_normal",
                "layers": [{"linear": 64}, "relu", {"dropout": 0.1}, {"linear": "auto"}],
            },
            "train": {
                "epochs": epochs,
                "batch_size": 64,
                "optimizer": OPTIMIZERS[i % len(OPTIMIZERS)],
                "scheduler": SCHEDULERS[(i // 4) % len(SCHEDULERS)],
            },
        }
    )


def cnn(i: int, epochs: int):
    base = with_epochs(parse_config((ROOT / "examples" / "digits_cnn.yaml").read_text()), epochs)
    data = base.model_dump(mode="json")
    data["seed"] = i
    data["train"]["optimizer"] = OPTIMIZERS[i % len(OPTIMIZERS)]
    data["train"]["scheduler"] = SCHEDULERS[(i // 4) % len(SCHEDULERS)]
    return load_config(data)


def differences(name: str, a, b) -> str:
    diffs = [float(np.abs(x.probabilities - y.probabilities).max()) for x, y in zip(a, b, strict=True)]
    flips = sum(int((x.predictions != y.predictions).sum()) for x, y in zip(a, b, strict=True))
    rows = sum(len(y.predictions) for y in b)
    above = sum(d > 1e-5 for d in diffs)
    return (
        f"{name}: max |diff| {max(diffs):.2e} (median {np.median(diffs):.2e}; "
        f"{above} of {len(diffs)} entries above 1e-5), class differs on {flips} of {rows} rows"
    )


def measure(name: str, configs, data, device: str, reorder_baseline: bool) -> tuple[float, float]:
    t0 = time.perf_counter()
    solo = [train(c, data, device=device) for c in configs]
    t_solo = time.perf_counter() - t0
    t0 = time.perf_counter()
    # always_pack: the engine itself is measured (on a CPU, train_packed trains CNNs alone).
    packed = train_packed([PackMember(c) for c in configs], data, device=device, always_pack=True)
    t_packed = time.perf_counter() - t0
    failed = [r for r in packed if isinstance(r, BaseException)]
    if failed:
        raise SystemExit(f"{name}: {len(failed)} packed members failed: {failed[0]!r}")
    n = len(configs)
    print(
        f"{name}: {n} entries; one after another {t_solo:.2f} s ({60 * n / t_solo:.0f}/min), "
        f"packed {t_packed:.2f} s ({60 * n / t_packed:.0f}/min), x{t_solo / t_packed:.2f}"
    )
    print("  " + differences("test probabilities, packed against solo", packed, solo))
    if reorder_baseline:
        # What floating-point reordering alone does to the solo trainer: another thread count.
        threads = torch.get_num_threads()
        torch.set_num_threads(threads + 1)
        other = [train(c, data, device=device) for c in configs]
        torch.set_num_threads(threads)
        print("  " + differences(f"solo on {threads + 1} threads against solo on {threads}", other, solo))
    return t_solo, t_packed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=["mlp", "cnn"], default=None)
    parser.add_argument(
        "--reorder-baseline",
        action="store_true",
        help="also train every entry alone on one more thread: the solo trainer's own reordering",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    digits = load_dataset("digits")
    # Warm-up: the first run of a process pays for imports and kernel selection.
    train(mlp(0, 1), digits, device=args.device)
    train_packed([PackMember(mlp(0, 1)), PackMember(mlp(1, 1))], digits, device=args.device)
    total_solo = total_packed = 0.0
    n = 0
    for name, make in (("mlp", mlp), ("cnn", cnn)):
        if args.only not in (None, name):
            continue
        configs = [make(i, args.epochs) for i in range(args.members)]
        t_solo, t_packed = measure(name, configs, digits, args.device, args.reorder_baseline)
        total_solo += t_solo
        total_packed += t_packed
        n += len(configs)
    metric, baseline = 60 * n / total_packed, 60 * n / total_solo
    print(f"bench: packed_engine metric={metric:.1f} baseline={baseline:.1f} ratio={metric / baseline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Image training throughput: the trainer with augmentation against a hand-written PyTorch
loop doing the same work, images per second, in one run.

Both loops train the shapes CNN example (`examples/shapes_cnn_augment.yaml` and its
augmentation, applied per batch on the device by `workers.training.augment`) on the
same standardised tensors of `shapes-32` (the first `--rows` training images), from the
same initial weights, with the same batches, optimiser, schedule and validation pass per
epoch. The hand-written loop is what a practitioner writes: shuffle, index, augment (the
same ops: `workers.training.augment.BatchAugment`), forward, backward, step.
The trainer adds per-layer gradient norms, budget and cancel checks, deterministic
kernels, the epoch report and the early-stopping bookkeeping.

The two alternate epoch by epoch (the hand-written loop's epochs run from the trainer's
epoch callback, outside the trainer's own epoch timing), so a change in the machine's load
hits both; the figure is the median per-epoch time over all repeats, first epochs left
out, turned into training images per second.

    python bench/image_training.py [--device cpu|cuda] [--rows 4000] [--epochs 4] [--repeats 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from datasets.catalog import make_shapes_32  # noqa: E402
from workers import training as trainer  # noqa: E402
from workers.build import build_model, build_optimizer, build_scheduler  # noqa: E402
from workers.data import TrainData  # noqa: E402
from workers.local import with_epochs  # noqa: E402
from workers.spec import parse_config  # noqa: E402
from workers.training.augment import augment_for  # noqa: E402
from workers.training.loop import steps_per_epoch  # noqa: E402
from workers.training.tensors import to_device  # noqa: E402

EXAMPLE = ROOT / "examples" / "shapes_cnn_augment.yaml"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_epochs(config, tensors, n_classes: int, input_shape, device: torch.device, epochs: int):
    """The hand-written loop, one epoch per next(): yields the wall seconds of each epoch."""
    seed = config.seed
    torch.manual_seed(seed)
    model = build_model(config, input_shape, n_classes).to(device)
    tcfg = config.train
    X, Y, Xv, Yv = tensors.X_train, tensors.y_train, tensors.X_val, tensors.y_val
    n = X.shape[0]
    bs, steps = steps_per_epoch(n, tcfg.batch_size)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], tcfg.optimizer)
    scheduler = build_scheduler(optimizer, tcfg.scheduler, steps, epochs)
    augment = augment_for(tcfg.augment, tensors, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed + 1)
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen, device=device)
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            xb, mixed = augment.apply(X[idx], Y[idx])
            loss = F.cross_entropy(model(xb), Y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(Xv), Yv).item()
        assert val_loss == val_loss and mixed is None
        _sync(device)
        yield time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--rows", type=int, default=4000, help="training images used (of the training split)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")

    # The catalog's arrays without its PNG archives: the same pixels, built in half the time.
    shapes = make_shapes_32()
    data = TrainData(
        X_train=shapes["pixels_train"][: args.rows],
        y_train=shapes["y_train"][: args.rows],
        X_test=shapes["pixels_test"][:500],
        test_ids=np.array([str(i) for i in range(500)], dtype=object),
        manifest={
            "slug": "shapes-32",
            "task_type": "classification",
            "classes": shapes["classes"],
            "input_shape": [3, 32, 32],
            "metric": "accuracy",
        },
        slug="shapes-32",
    )
    config = with_epochs(parse_config(EXAMPLE.read_text(encoding="utf-8")), args.epochs)
    # Test-time flips are prediction, not training: left out of both.
    augment = config.train.augment.model_copy(update={"tta": "none"})
    config = config.model_copy(update={"train": config.train.model_copy(update={"augment": augment})})
    tensors, _ = to_device(
        data, seed=config.seed, val_fraction=float(config.train.validation_fraction), device=device
    )
    n_train = tensors.X_train.shape[0]

    times: dict[str, list[float]] = {"trainer": [], "plain": []}
    for r in range(args.repeats + 1):  # the first run warms up (allocator, kernels, imports)
        plain = plain_epochs(config, tensors, data.n_outputs, data.input_shape, device, args.epochs)
        run: dict[str, list[float]] = {"trainer": [], "plain": []}

        def on_epoch(rec, run=run, plain=plain):
            run["trainer"].append(rec["seconds"])
            run["plain"].append(next(plain))

        trainer.train(config, data, device=str(device), on_epoch=on_epoch)
        if r == 0:
            continue
        for k in times:
            times[k] += run[k][1:]
        print(
            f"repeat {r}/{args.repeats}: trainer {statistics.median(times['trainer']):.2f} s/epoch, "
            f"hand-written {statistics.median(times['plain']):.2f} s/epoch",
            flush=True,
        )
    m_trainer, m_plain = statistics.median(times["trainer"]), statistics.median(times["plain"])
    ips_trainer, ips_plain = n_train / m_trainer, n_train / m_plain
    ratio = m_trainer / m_plain
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print()
    print(
        f"shapes CNN with augmentation, {n_train:,} training images, {args.epochs} epochs x {args.repeats} on {name}"
    )
    print(f"{'loop':<14}{'images/s':>12}{'median s/epoch':>16}{'min':>9}{'max':>9}")
    for label, t in (("trainer", times["trainer"]), ("hand-written", times["plain"])):
        print(
            f"{label:<14}{n_train / statistics.median(t):>12.0f}{statistics.median(t):>16.3f}{min(t):>9.3f}{max(t):>9.3f}"
        )
    print(f"ratio hand-written images/s / trainer images/s: {ratio:.3f} (goal <= 1.05)")
    print(f"bench: image_training metric={ips_trainer:.1f} baseline={ips_plain:.1f} ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

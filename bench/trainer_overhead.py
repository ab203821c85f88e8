"""What the trainer's machinery costs: workers.training.train against a plain
hand-written PyTorch loop, on the digits CNN example.

Both loops get the same model (built once per repeat from the same seed, so
the same initial weights), the same standardised tensors on the device, the
same validation rows, batch size, optimiser, schedule and epochs. The plain
loop is what a practitioner writes by hand: shuffle, index, forward,
backward, step, and a validation pass per epoch. The trainer adds per-layer
gradient norms, budget and cancel checks, deterministic kernels, the epoch
report and early-stopping bookkeeping.

The two alternate epoch by epoch (the plain loop's epochs run from the
trainer's epoch callback, outside the trainer's own epoch timing), so that
drift in the machine's load hits both; the figure is the median per-epoch
wall time over all repeats, first epochs left out. On CPU the per-epoch CPU
time of the (single) thread is printed too: it is steadier on a shared box.

    python bench/trainer_overhead.py [--device cpu|cuda] [--repeats 5] [--epochs 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from workers import training as trainer  # noqa: E402
from workers.build import build_model, build_optimizer, build_scheduler  # noqa: E402
from workers.data import load_dataset  # noqa: E402
from workers.local import with_epochs  # noqa: E402
from workers.spec import parse_config  # noqa: E402
from workers.training.tensors import to_device  # noqa: E402

EXAMPLE = ROOT / "examples" / "digits_cnn.yaml"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_epochs(config, tensors, device: torch.device, epochs: int, seed: int):
    """The hand-written baseline, one epoch per next(): yields (wall s, CPU s) of each epoch."""
    torch.manual_seed(seed)
    model = build_model(config, tensors.input_shape, tensors.n_classes).to(device)
    tcfg = config.train
    X, Y, Xv, Yv = tensors.X_train, tensors.y_train, tensors.X_val, tensors.y_val
    n = X.shape[0]
    bs = tcfg.batch_size
    steps = n // bs + (1 if n % bs >= 2 else 0)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], tcfg.optimizer)
    scheduler = build_scheduler(optimizer, tcfg.scheduler, steps, epochs)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed + 1)
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.thread_time()
        model.train()
        perm = torch.randperm(n, generator=gen, device=device)
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(Xv), Yv).item()
        assert val_loss == val_loss
        _sync(device)
        yield time.perf_counter() - t0, time.thread_time() - c0


def interleaved_run(config, data, tensors, device: torch.device, seed: int) -> dict[str, list[float]]:
    """One trainer run with the plain loop's epochs slotted in between its epochs
    (trainer epoch 1, plain epoch 1, trainer epoch 2, ...): a change in the
    machine's load hits both loops alike."""
    plain = plain_epochs(config, tensors, device, config.train.epochs, seed)
    out = {"trainer_wall": [], "trainer_cpu": [], "plain_wall": [], "plain_cpu": []}
    last = [time.thread_time()]

    def on_epoch(rec):
        out["trainer_cpu"].append(time.thread_time() - last[0])
        out["trainer_wall"].append(rec["seconds"])
        wall, cpu = next(plain)
        out["plain_wall"].append(wall)
        out["plain_cpu"].append(cpu)
        last[0] = time.thread_time()

    trainer.train(config, data, device=str(device), on_epoch=on_epoch)
    # The first epoch of a run pays one-off costs (optimizer state allocation): left out of both.
    return {k: v[1:] for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, default=6, help="epochs per run (the example's own count is longer)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 keeps a shared box steady)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")

    config = with_epochs(parse_config(EXAMPLE.read_text(encoding="utf-8")), args.epochs)
    # No early stopping in either loop: both must run every epoch.
    config = config.model_copy(update={"train": config.train.model_copy(update={"early_stopping": None})})
    data = load_dataset("digits")
    seed = int(config.seed)
    tensors, _ = to_device(
        data, seed=seed, val_fraction=float(config.train.validation_fraction), device=device
    )
    tensors.input_shape = data.input_shape

    # Warm-up (allocator, kernels, first-call imports), not measured.
    interleaved_run(with_epochs(config, 2), data, tensors, device, seed)

    times: dict[str, list[float]] = {"trainer_wall": [], "trainer_cpu": [], "plain_wall": [], "plain_cpu": []}
    for r in range(args.repeats):
        for k, v in interleaved_run(config, data, tensors, device, seed).items():
            times[k] += v
        print(
            f"repeat {r + 1}/{args.repeats}: trainer {statistics.median(times['trainer_wall']) * 1e3:.1f} ms/epoch, "
            f"plain {statistics.median(times['plain_wall']) * 1e3:.1f} ms/epoch",
            flush=True,
        )
    t_trainer, t_plain = times["trainer_wall"], times["plain_wall"]
    m_trainer = statistics.median(t_trainer)
    m_plain = statistics.median(t_plain)
    ratio = m_trainer / m_plain
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print()
    print(f"digits CNN ({EXAMPLE.name}), {args.epochs} epochs x {args.repeats} repeats on {name}")
    print(f"{'loop':<14}{'median s/epoch':>16}{'min':>10}{'max':>10}")
    for label, t in (("trainer", t_trainer), ("hand-written", t_plain)):
        print(f"{label:<14}{statistics.median(t):>16.4f}{min(t):>10.4f}{max(t):>10.4f}")
    if device.type == "cpu":
        # CPU time of the one thread: steadier than wall time when other jobs share the cores.
        c_ratio = statistics.median(times["trainer_cpu"]) / statistics.median(times["plain_cpu"])
        print(
            f"CPU time per epoch: trainer {statistics.median(times['trainer_cpu']):.4f} s, "
            f"hand-written {statistics.median(times['plain_cpu']):.4f} s, ratio {c_ratio:.3f}"
        )
    print(f"ratio trainer/hand-written (median wall time per epoch): {ratio:.3f} (goal <= 1.05 on CPU)")
    print(f"bench: trainer_overhead metric={m_trainer:.5f} baseline={m_plain:.5f} ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

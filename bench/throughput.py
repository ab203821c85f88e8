"""Trainings per minute through the real worker code path, packing on against one at a time,
and the time from POST of a small config to its first epoch on a warm trainer.

Starts a private platform (a fresh database, a private redis-server when one can be started,
gunicorn; no scorer: scoring is not what is measured, entries stop in `scoring`) and, for each
mode in turn, a real trainer (`celery -A workers.celery_app worker`, the threads pool and its
device pool) with PODIUM_WORKER_PACKING=1, then 0. In each mode:

1. one warm-up entry (torch, the trainer, the dataset cache), not timed;
2. N digits-size entries submitted at once by N participants: `examples/digits_cnn.yaml`
   and three variants of it (other seeds and learning rates), plus `--mlps` MLPs; timed
   from the first claim (the entries' `started_at`) to the last predictions posted (seen
   when the entry leaves `running`): trainings per minute;
3. (packing on only) `--latency` small MLP configs, one after the other: from the start of
   the POST to the first epoch stored, p50 and p95 (goal p50 <= 1 s).

    python bench/throughput.py [--entries 16] [--mlps 2] [--epochs N] [--device cpu|cuda]

On a GPU box run it as one script with `--device cuda --entries 512` (and, for a short run,
`--epochs 5`); the trainer's utilisation and pack sizes are read from its log line (every 2 s).
Ends with `bench: throughput metric=<packed per minute> baseline=<one at a time> ratio=…`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

from bench.pipeline import make_database, pct, setup_django  # noqa: E402
from tests.e2e.harness import Platform, RedisServer  # noqa: E402

CNN = (ROOT / "examples" / "digits_cnn.yaml").read_text()
# digits_cnn and three variants of it: one architecture, other seeds and learning rates.
CNN_VARIANTS = [(0, 0.003), (1, 0.002), (2, 0.005), (3, 0.001)]
MLP = """\
version: 1
seed: {seed}
model:
  init: he_normal
  layers:
    - flatten: {{}}
    - linear: {{units: 128}}
    - activation: relu
    - linear: {{units: auto}}
train:
  epochs: {epochs}
  batch_size: 64
  optimizer: {{name: adam, lr: {lr}}}
"""
SMALL = MLP.replace("units: 128", "units: 32")


def cnn(seed: int, lr: float, epochs: int | None) -> str:
    text = CNN.replace("seed: 0", f"seed: {seed}").replace("lr: 0.003", f"lr: {lr}")
    return text.replace("epochs: 30", f"epochs: {epochs}") if epochs else text


def entry_configs(n: int, mlps: int, epochs: int | None) -> list[str]:
    mlps = min(mlps, n)
    configs = [cnn(*CNN_VARIANTS[i % len(CNN_VARIANTS)], epochs) for i in range(n - mlps)]
    configs += [MLP.format(seed=10 + i, lr=0.001 * (1 + i % 3), epochs=epochs or 30) for i in range(mlps)]
    return configs


def seed_competition(n_users: int) -> tuple[str, list[str]]:
    """A competition on digits with room for every entry, and participants with API tokens."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from podium.accounts.authentication import hash_token_key
    from podium.accounts.models import ApiToken
    from podium.competitions.services import competition_create, competition_join, dataset_import_builtin

    now = timezone.now()
    competition = competition_create(
        dataset=dataset_import_builtin(slug="digits"),
        slug="digits-throughput",
        title="Digits throughput bench",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        daily_limit=1_000_000,
        budget_epochs=1000,
        budget_seconds=3600,
    )
    tokens = []
    users = get_user_model()
    for i in range(n_users):
        user = users.objects.create_user(username=f"tp{i}", email=f"tp{i}@example.com", password=None)
        competition_join(competition=competition, user=user)
        key = secrets.token_urlsafe(32)
        ApiToken.objects.create(user=user, name="bench", prefix=key[:8], key_hash=hash_token_key(key))
        tokens.append(key)
    return competition.slug, tokens


def submit(base: str, slug: str, token: str, config: str) -> int:
    with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=60) as client:
        answer = client.post(
            f"/api/competitions/{slug}/submissions/",
            files={"config": ("model.yaml", config.encode(), "application/x-yaml")},
        )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def submit_all(base: str, slug: str, tokens: list[str], configs: list[str], clients: int = 8) -> list[int]:
    ids: list[int | None] = [None] * len(configs)
    jobs = iter(range(len(configs)))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                i = next(jobs, None)
            if i is None:
                return
            ids[i] = submit(base, slug, tokens[i % len(tokens)], configs[i])

    threads = [threading.Thread(target=run) for _ in range(min(clients, len(configs)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def wait_trained(ids: list[int], timeout: float) -> dict[int, float]:
    """Poll until every entry left `running`; when (wall clock) each was seen leaving it."""
    from podium.submissions.models import Status, Submission

    seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(ids):
        if time.monotonic() > deadline:
            late = dict(Submission.objects.filter(pk__in=set(ids) - set(seen)).values_list("pk", "status"))
            raise RuntimeError(f"entries not trained after {timeout:.0f} s: {late}")
        rows = Submission.objects.filter(pk__in=ids).exclude(status__in=(Status.QUEUED, Status.RUNNING))
        now = time.time()
        for pk, status, message in rows.values_list("pk", "status", "error_message"):
            if pk not in seen:
                if status == Status.FAILED:
                    raise RuntimeError(f"entry {pk} failed: {message}")
                seen[pk] = now
        time.sleep(0.02)
    return seen


def throughput(platform: Platform, slug: str, tokens: list[str], configs: list[str]) -> tuple[float, float]:
    """(trainings per minute, seconds) from the first claim to the last predictions posted."""
    from podium.submissions.models import Submission

    ids = submit_all(platform.url, slug, tokens, configs)
    done = wait_trained(ids, timeout=max(600, 60 * len(ids)))
    first_claim = min(Submission.objects.filter(pk__in=ids).values_list("started_at", flat=True))
    seconds = max(done.values()) - first_claim.timestamp()
    return 60 * len(ids) / seconds, seconds


def first_epoch_latency(platform: Platform, slug: str, tokens: list[str], n: int) -> list[float]:
    from podium.submissions.models import EpochMetric

    times = []
    for i in range(n):
        config = SMALL.format(seed=100 + i, lr=0.001, epochs=2)
        t0 = time.perf_counter()
        entry = submit(platform.url, slug, tokens[i % len(tokens)], config)
        while not EpochMetric.objects.filter(submission_id=entry).exists():
            if time.perf_counter() - t0 > 120:
                raise RuntimeError(f"entry {entry}: no epoch after 120 s")
            time.sleep(0.005)
        times.append(time.perf_counter() - t0)
        wait_trained([entry], timeout=120)
    return times


def device_figures(log: str) -> dict:
    """The trainer's periodic device lines: the largest pack, and the utilisation while busy."""
    packs = [int(n) for n in re.findall(r"pack of (\d+) on ", log)]
    busy = [
        float(u)
        for line in log.splitlines()
        if "training in packs" in line
        for u in re.findall(r"utilisation ([\d.]+)%", line)
    ]
    return {
        "packs": len(packs),
        "largest_pack": max(packs, default=0),
        "mean_pack": sum(packs) / len(packs) if packs else 0.0,
        "utilisation_max": max(busy, default=None),
        "utilisation_mean": sum(busy) / len(busy) if busy else None,
    }


def run_mode(
    platform: Platform, args, packing: bool, slug: str, tokens: list[str], configs: list[str]
) -> dict:
    name = f"trainer{platform._trainers + 1}"
    env = {
        "PODIUM_WORKER_PACKING": "1" if packing else "0",
        "PODIUM_WORKER_DEVICE": args.device,
        "PODIUM_WORKER_MAX_IN_FLIGHT": str(max(args.in_flight, 1)),
        "PODIUM_WORKER_STATS_INTERVAL_S": "2",
        "PODIUM_WORKER_THREADS": str(args.threads),
    }
    trainer = platform.start_trainer(env)
    try:
        warm = submit(platform.url, slug, tokens[-1], SMALL.format(seed=999, lr=0.001, epochs=1))
        wait_trained([warm], timeout=300)
        mark = trainer.log_mark()
        rate, seconds = throughput(platform, slug, tokens, configs)
        log = trainer.log()[mark:]
        latency = (
            first_epoch_latency(platform, slug, tokens, args.latency) if packing and args.latency else []
        )
    finally:
        trainer.stop(timeout=10)
        platform.procs.pop(name, None)
    return {"rate": rate, "seconds": seconds, "latency": latency, **device_figures(log)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=16, help="entries per mode (default 16)")
    parser.add_argument("--mlps", type=int, default=2, help="of which MLPs (default 2; 0: one architecture)")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs of every entry (default: the config's 30)"
    )
    parser.add_argument("--latency", type=int, default=10, help="POST -> first epoch samples (default 10)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--window",
        type=int,
        default=0,
        help="PODIUM_DISPATCH_WINDOW (default: what beat derives for one trainer)",
    )
    parser.add_argument(
        "--in-flight", type=int, default=None, help="PODIUM_WORKER_MAX_IN_FLIGHT (default: entries)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="PODIUM_WORKER_THREADS (default 1: on a shared CPU box two OpenMP threads make a run "
        "3 to 10 times slower whenever the other core is busy)",
    )
    args = parser.parse_args()
    args.in_flight = args.in_flight or max(args.entries, 16)
    configs = entry_configs(args.entries, args.mlps, args.epochs)

    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-throughput-"))
    media, var = tmp / "media", tmp / "var"
    media.mkdir()
    var.mkdir()
    db_url, drop_db = make_database(tmp)
    redis = platform = None
    try:
        setup_django(db_url, media, var)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        slug, tokens = seed_competition(max(args.entries, args.latency, 1) + 1)
        if shutil.which("redis-server"):
            (tmp / "redis").mkdir()
            redis = RedisServer(tmp / "redis", tmp).start()
        platform = Platform(
            tmp=tmp,
            db_url=db_url,
            broker_url=f"{redis.url}/0" if redis else "filesystem://",
            cache_url=f"{redis.url}/1" if redis else "locmem://",
            media_root=media,
        )
        platform.env.update({"PODIUM_LOG_LEVEL": "INFO", "PODIUM_DEBUG": "0"})
        # The harness's fault-test timings would have the reaper race the bench; there is no beat here.
        platform.env["PODIUM_QUEUED_TIMEOUT_S"] = "3600"
        # The fair queue's window as beat derives it for one trainer (there is no beat here).
        from podium.submissions.queue import RELEASED_PER_WORKER

        platform.env["PODIUM_DISPATCH_WINDOW"] = str(args.window or RELEASED_PER_WORKER)
        platform.start_web(workers=2, threads=8)
        off = run_mode(platform, args, False, slug, tokens, configs)
        on = run_mode(platform, args, True, slug, tokens, configs)
    except BaseException:
        print(f"the processes' logs are kept in {tmp}", file=sys.stderr)
        tmp = None
        raise
    finally:
        if platform is not None:
            platform.stop()
        if redis is not None:
            redis.stop()
        from django.db import connections

        connections.close_all()
        drop_db()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    n_cnn = args.entries - min(args.mlps, args.entries)
    print()
    print(
        f"throughput on {args.device}, {os.cpu_count()} CPUs: {args.entries} entries "
        f"({n_cnn} digits_cnn in 4 variants, {args.entries - n_cnn} MLPs), "
        f"epochs {args.epochs or 'as configured'}, {args.in_flight} in flight, {args.threads} torch thread(s)"
    )
    print(
        f"{'mode':<22} {'trainings/min':>14} {'seconds':>9} {'packs':>6} {'largest':>8} {'mean':>6} {'util. max/mean':>16}"
    )
    for label, r in (("packing on", on), ("one at a time", off)):
        util = (
            "—"
            if r["utilisation_max"] is None
            else f"{r['utilisation_max']:.0f}%/{r['utilisation_mean']:.0f}%"
        )
        print(
            f"{label:<22} {r['rate']:>14.1f} {r['seconds']:>9.1f} {r['packs']:>6} {r['largest_pack']:>8} "
            f"{r['mean_pack']:>6.1f} {util:>16}"
        )
    if on["latency"]:
        p50, p95 = pct(on["latency"], 0.5), pct(on["latency"], 0.95)
        print(
            f"POST -> first epoch on a warm trainer ({len(on['latency'])} entries): p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (goal p50 <= 1000 ms)"
        )
    print(
        f"bench: throughput metric={on['rate']:.1f} baseline={off['rate']:.1f} ratio={on['rate'] / off['rate']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

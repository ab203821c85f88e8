"""A load test with locust: mixed traffic at the highest rate this machine sustains.

Starts a private platform (gunicorn, the scorer, the trainer, beat; a private
redis-server as broker and cache) on a fresh database (a new PostgreSQL database when
DATABASE_URL points at PostgreSQL, dropped at the end), seeds a competition with
participants and a board, then drives `bench/locustfile.py` headless:

1. light: one user of each kind for --light seconds: the pages' p95 with no load;
2. steps: 10, 20, 40 … users (about one request per user-second) for --step seconds
   each, until the pages' p95 passes 500 ms or a request fails; the last step that
   held is the sustained rate;
3. the run: that many users for --duration seconds (default 600), every endpoint's
   rate and percentiles, and the error count.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/loadtest.py [--duration 600]

Ends with `bench: loadtest metric=<pages p95 ms at the sustained rate> baseline=<pages p95
ms, light> ratio=…`; the rate itself and the per-endpoint table come before it.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

from bench.pipeline import make_database, setup_django  # noqa: E402
from tests.e2e.harness import BIN, Platform, RedisServer, wait_until  # noqa: E402

PAGE_GOAL_MS = 500.0
CONFIG = """version: 1
seed: 0
model:
  layers:
    - linear: {units: 16}
    - activation: relu
    - linear: {units: auto}
train: {epochs: 2, batch_size: 32}
"""


def seed(n_users: int, tmp: Path) -> tuple[str, Path, Path]:
    """A competition on iris, participants with passwords and API tokens; returns (slug,
    accounts file, predictions CSV)."""
    import secrets
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from podium.accounts.services import api_token_create
    from podium.competitions.services import competition_create, competition_join, dataset_import_builtin
    from tests.e2e.helpers import iris_truth, predictions_csv

    now = timezone.now()
    competition = competition_create(
        dataset=dataset_import_builtin(slug="iris"),
        slug="iris-load",
        title="Iris under load",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        daily_limit=1_000_000,
    )
    users = get_user_model()
    lines = []
    for i in range(n_users):
        password = secrets.token_urlsafe(12)
        user = users.objects.create_user(username=f"load{i}", email=f"load{i}@example.com", password=password)
        competition_join(competition=competition, user=user)
        _, key = api_token_create(user=user, name="load")
        lines.append(f"{user.username} {password} {key}")
    accounts = tmp / "accounts.txt"
    accounts.write_text("\n".join(lines) + "\n")
    predictions = tmp / "predictions.csv"
    predictions.write_bytes(predictions_csv(iris_truth()))
    return competition.slug, accounts, predictions


def fill_board(url: str, slug: str, accounts: Path, predictions: Path) -> None:
    """One scored entry per participant, so the board has pages to read."""
    tokens = [line.split()[2] for line in accounts.read_text().splitlines()]
    body = predictions.read_bytes()

    def post(token: str) -> int:
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=30) as c:
            return c.post(
                f"/api/competitions/{slug}/submissions/", files={"file": ("p.csv", body, "text/csv")}
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, tokens))
    assert all(code == 201 for code in codes), codes

    def scored() -> bool:
        board = httpx.get(f"{url}/api/competitions/{slug}/leaderboard/", timeout=10).json()
        return board.get("count", 0) >= len(tokens)

    wait_until(scored, 300, "every seeded entry on the board", interval=1.0)


def run_locust(url: str, env: dict, users: int, seconds: int, prefix: Path) -> dict[str, dict]:
    """Run locust headless; its per-endpoint stats by name (the 'Aggregated' row included)."""
    cmd = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(max(users // 2, 1)),
        "--run-time",
        f"{seconds}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(
        cmd, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=seconds + 120
    )
    with open(f"{prefix}_failures.csv", newline="") as f:
        for row in csv.DictReader(f):
            print(f"  failed x{row['Occurrences']}: {row['Method']} {row['Name']}: {row['Error'][:300]}")
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def pages_p95(stats: dict[str, dict]) -> float:
    """The 95th percentile over every page request, weighted by count (locust keeps per-name
    percentiles only, so the largest per-page p95 is the honest bound)."""
    return max(float(row["95%"]) for name, row in stats.items() if name.startswith("page:"))


def failures(stats: dict[str, dict]) -> int:
    return int(stats["Aggregated"]["Failure Count"])


def rate(stats: dict[str, dict]) -> float:
    return float(stats["Aggregated"]["Requests/s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of the sustained run")
    parser.add_argument("--step", type=int, default=45, help="seconds of each step of the search")
    parser.add_argument("--light", type=int, default=30, help="seconds of the light-load baseline")
    parser.add_argument("--participants", type=int, default=250)
    parser.add_argument("--steps", default="10,20,25,30,35,40,50,60")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed folder)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="podium-load-"))
    db_url, drop_db = make_database(tmp)
    redis = platform = None
    try:
        setup_django(db_url, tmp / "media", tmp / "var")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        slug, accounts, predictions = seed(args.participants, tmp)
        config = tmp / "config.yaml"
        config.write_text(CONFIG)
        redis = RedisServer(tmp, tmp).start()
        platform = Platform(
            tmp=tmp,
            db_url=db_url,
            broker_url=f"{redis.url}/0",
            cache_url=f"{redis.url}/1",
            media_root=tmp / "media",
            # The load test measures the platform as deployed, not the tests' fast reaper.
            extra_env={"PODIUM_HEARTBEAT_TIMEOUT_S": "120", "PODIUM_QUEUED_TIMEOUT_S": "1800"},
        )
        platform.start_web(workers=args.web_workers, threads=args.web_threads)
        platform.start_scorer()
        platform.start_trainer()
        platform.start_beat()
        fill_board(platform.url, slug, accounts, predictions)
        board_pages = max(1, args.participants // 50)
        env = {
            **platform.env,
            "PODIUM_LOAD_SLUG": slug,
            "PODIUM_LOAD_ACCOUNTS": str(accounts),
            "PODIUM_LOAD_CSV": str(predictions),
            "PODIUM_LOAD_CONFIG": str(config),
            "PODIUM_LOAD_BOARD_PAGES": str(board_pages),
        }

        light = run_locust(platform.url, env, 3, args.light, tmp / "light")
        print(
            f"light load: {rate(light):.1f} req/s, pages p95 {pages_p95(light):.0f} ms, {failures(light)} failed"
        )
        held = None
        for users in [int(n) for n in args.steps.split(",")]:
            step = run_locust(platform.url, env, users, args.step, tmp / f"step{users}")
            ok = pages_p95(step) < PAGE_GOAL_MS and failures(step) == 0
            print(
                f"step {users:>4} users: {rate(step):7.1f} req/s, pages p95 {pages_p95(step):6.0f} ms, "
                f"{failures(step)} failed -> {'holds' if ok else 'does not hold'}"
            )
            if not ok:
                break
            held = users
        if held is None:
            print("not even the first step held the goal", file=sys.stderr)
            return 1
        started = time.monotonic()
        run = run_locust(platform.url, env, held, args.duration, tmp / "run")
        took = time.monotonic() - started
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
        if tmp is not None and args.keep_logs:
            print(f"the processes' logs are kept in {tmp}", file=sys.stderr)
        elif tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"sustained run: {held} users for {took:.0f} s on {os.cpu_count()} CPUs, gunicorn "
        f"{args.web_workers}x{args.web_threads}, PostgreSQL, Redis"
    )
    print(
        f"{'endpoint':<36} {'requests':>9} {'failed':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    for name, row in sorted(run.items(), key=lambda item: (item[0] == "Aggregated", item[0])):
        print(
            f"{name:<36} {row['Request Count']:>9} {row['Failure Count']:>7} {float(row['Requests/s']):>7.1f} "
            f"{row['50%']:>7} {row['95%']:>7} {row['99%']:>7}"
        )
    print(f"rate: {rate(run):.1f} requests/s sustained, {failures(run)} failed")
    metric, baseline = pages_p95(run), pages_p95(light)
    print(f"bench: loadtest metric={metric:.0f}ms baseline={baseline:.0f}ms ratio={metric / baseline:.2f}")
    return 0 if failures(run) == 0 and metric < PAGE_GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())

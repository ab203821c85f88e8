"""The fair queue through the real platform: one participant floods, ten others submit one
entry each, and each single entry's wait is measured, fair order against FIFO.

Starts a private platform (gunicorn, the scorer, the trainer, the maintenance worker and
beat, a private redis-server as broker and cache) on a fresh PostgreSQL database, then
runs the same scenario twice, once per `PODIUM_DISPATCH_ORDER` (each on a fresh platform
and competition). The trainers are busy while the burst comes, as on a competition's last
day: a third party's long entries hold every one of their slots (--slots entries in flight per
trainer, PODIUM_WORKER_MAX_IN_FLIGHT); the flooder POSTs --flood tiny model configs from 4
connections at once, then (--singles-after seconds after the flood's last POST) ten other
participants POST one each; then the long entries are cancelled and the trainers take the
queue. All of the burst is thus waiting before the first of it can start, whatever this
machine's intake rate. It reads from the database when each entry started (claimed by the
trainer) and reports, for each single entry, its wait (POST to start), its place among all
starts, and whether it started before the flooder's 12th entry. Once every single entry
has started (and, in fair order, the flooder's 12th), the flooder's remaining entries are
cancelled, so that a run takes minutes, not the whole flood.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/fairness.py [--smoke]

Ends with `bench: fairness metric=<worst single-entry wait, fair order, s>
baseline=<the same, FIFO order, s> ratio=<fair / FIFO>` (lower is better).
"""

from __future__ import annotations

import argparse
import logging
import os
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

from bench.pipeline import make_database, setup_django  # noqa: E402
from tests.e2e.harness import Platform, RedisServer, wait_until  # noqa: E402

# One epoch of a tiny network on iris: the queue, not the model, should decide the wait.
CONFIG = """\
version: 1
seed: 0
model:
  layers:
    - linear: {units: 8}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 1
  batch_size: 32
  optimizer: {name: adam, lr: 0.01}
"""
# The third party's entries that keep the trainers busy during the burst (cancelled after it).
BLOCKER = """\
version: 1
seed: 0
model:
  layers:
    - linear: {units: 64}
    - activation: relu
    - linear: {units: auto}
train:
  epochs: 1000
  batch_size: 1
  optimizer: {name: adam, lr: 0.001}
"""
SINGLES = 10
TWELFTH = 12
FLOOD_CONNECTIONS = 4


def seed() -> dict[str, str]:
    """The flooder, ten single entrants and a warm-up account, with API tokens."""
    from django.contrib.auth import get_user_model

    from podium.accounts.authentication import hash_token_key
    from podium.accounts.models import ApiToken

    users = get_user_model()
    tokens = {}
    for name in ["flooder", "warmup", *(f"single{i}" for i in range(SINGLES))]:
        user = users.objects.create_user(username=name, email=f"{name}@example.com", password=None)
        key = secrets.token_urlsafe(32)
        ApiToken.objects.create(user=user, name="bench", prefix=key[:8], key_hash=hash_token_key(key))
        tokens[name] = key
    return tokens


def competition_for(order: str) -> str:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from podium.competitions.services import competition_create, competition_join, dataset_import_builtin

    now = timezone.now()
    competition = competition_create(
        dataset=dataset_import_builtin(slug="iris"),
        slug=f"fairness-{order}",
        title=f"Fairness, {order} order",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        daily_limit=100_000,
        budget_epochs=1000,
        budget_seconds=600,
    )
    for user in get_user_model().objects.all():
        competition_join(competition=competition, user=user)
    return competition.slug


def post_config(client: httpx.Client, slug: str, config: str = CONFIG) -> int:
    answer = client.post(f"/api/competitions/{slug}/submissions/", data={"config": config})
    if answer.status_code != 201:
        raise RuntimeError(f"POST answered {answer.status_code}: {answer.text}")
    return answer.json()["id"]


def burst(base: str, slug: str, tokens: dict[str, str], flood: int, singles_after: float):
    """The flood, then the singles; returns (flood ids in POST order, single ids, seconds)."""
    flood_ids: list[tuple[float, int]] = []
    single_ids: list[int | None] = [None] * SINGLES
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(flood))

    def flooder():
        try:
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Token {tokens['flooder']}"}, timeout=60
            ) as c:
                while True:
                    with lock:
                        if next(counter, None) is None:
                            return
                    sid = post_config(c, slug)
                    with lock:
                        flood_ids.append((time.perf_counter(), sid))
        except BaseException as exc:
            errors.append(exc)

    def single(i: int):
        try:
            time.sleep(singles_after)
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Token {tokens[f'single{i}']}"}, timeout=60
            ) as c:
                single_ids[i] = post_config(c, slug)
        except BaseException as exc:
            errors.append(exc)

    t0 = time.perf_counter()
    for group in (
        [threading.Thread(target=flooder) for _ in range(FLOOD_CONNECTIONS)],
        [threading.Thread(target=single, args=(i,)) for i in range(SINGLES)],
    ):
        for t in group:
            t.start()
        for t in group:
            t.join()
    if errors:
        raise errors[0]
    # The flooder's entries in the order the platform took them (ids are given in commit order).
    return sorted(sid for _, sid in flood_ids), single_ids, time.perf_counter() - t0


def rows(ids: list[int]) -> dict[int, dict]:
    from podium.submissions.models import Submission

    return {
        r["id"]: r
        for r in Submission.objects.filter(pk__in=ids).values("id", "status", "created_at", "started_at")
    }


def run_order(order: str, args, tokens, db_url, redis, tmp: Path) -> dict:
    from podium.errors import Conflict
    from podium.submissions.models import FINAL_STATUSES, Submission
    from podium.submissions.services import submission_cancel

    slug = competition_for(order)
    platform = Platform(
        tmp=tmp / order,
        db_url=db_url,
        broker_url=f"{redis.url}/0",
        cache_url=f"{redis.url}/1",
        media_root=tmp / "media",
        extra_env={
            "PODIUM_DISPATCH_ORDER": order,
            "PODIUM_INTAKE_RATE": "100000/1m",
            "PODIUM_DEBUG": "0",
            "PODIUM_LOG_LEVEL": "WARNING",
            # A busy 2-core box must not make the reaper take a slow entry for a lost one.
            "PODIUM_HEARTBEAT_TIMEOUT_S": "120",
            "PODIUM_QUEUED_TIMEOUT_S": "600",
            **({"PODIUM_DISPATCH_WINDOW": str(args.window)} if args.window else {}),
        },
    )
    try:
        platform.start_web()
        platform.start_scorer()
        for _ in range(args.trainers):
            platform.start_trainer({"PODIUM_WORKER_MAX_IN_FLIGHT": str(args.slots)})
        platform.start_maintenance()
        platform.start_beat()
        # Warm the trainer (dataset cache, imports) and let beat read its capacity.
        with httpx.Client(
            base_url=platform.url, headers={"Authorization": f"Token {tokens['warmup']}"}, timeout=60
        ) as c:
            warm = post_config(c, slug)
        wait_until(
            lambda: Submission.objects.get(pk=warm).status in FINAL_STATUSES,
            120,
            "the warm-up entry",
            interval=0.2,
        )
        with httpx.Client(
            base_url=platform.url, headers={"Authorization": f"Token {tokens['warmup']}"}, timeout=60
        ) as c:
            blockers = [post_config(c, slug, BLOCKER) for _ in range(args.slots * args.trainers)]
        wait_until(
            lambda: Submission.objects.filter(pk__in=blockers, status="running").count() == len(blockers),
            120,
            "the long entries to fill the trainers",
            interval=0.1,
        )
        time.sleep(1.5)  # beat's release tick has read the trainers' capacity by now
        from django.core.cache import cache

        from podium.submissions import queue

        window = args.window or cache.get(queue.CAPACITY_CACHE_KEY) or queue.DEFAULT_WINDOW

        flood, singles, post_s = burst(platform.url, slug, tokens, args.flood, args.singles_after)
        if Submission.objects.filter(pk__in=blockers, status="running").count() != len(blockers):
            raise RuntimeError("a long entry ended before the burst was in: give them more epochs")
        for blocker in Submission.objects.filter(pk__in=blockers):
            submission_cancel(submission=blocker)
        twelfth = flood[TWELFTH - 1]

        def decided() -> bool:
            seen = rows([*singles, twelfth])
            if not all(seen[s]["started_at"] for s in singles):
                return False
            return order == "fifo" or seen[twelfth]["started_at"] is not None

        wait_until(decided, args.timeout, f"every single entry to start ({order})", interval=0.1)
        # The rest of the flood is not measured: cancel what has not started.
        for entry in Submission.objects.filter(pk__in=flood, status="queued"):
            try:
                submission_cancel(submission=entry)
            except Conflict:
                pass  # it started and finished meanwhile
        wait_until(
            lambda: (
                not Submission.objects.filter(pk__in=[*flood, *singles])
                .exclude(status__in=FINAL_STATUSES)
                .exists()
            ),
            180,
            "the started entries to finish",
            interval=0.2,
        )
        seen = rows([*flood, *singles])
    except BaseException:
        print(platform.logs(), file=sys.stderr)
        raise
    finally:
        platform.stop()

    starts = sorted((r["started_at"], pk) for pk, r in seen.items() if r["started_at"])
    rank = {pk: i + 1 for i, (_, pk) in enumerate(starts)}
    twelfth_start = seen[twelfth]["started_at"]
    flood_ranks = sorted(rank[pk] for pk in flood if pk in rank)
    result = {"order": order, "window": window, "post_s": post_s, "singles": []}
    for pk in singles:
        r = seen[pk]
        result["singles"].append(
            {
                "id": pk,
                "wait_s": (r["started_at"] - r["created_at"]).total_seconds(),
                "rank": rank[pk],
                "flood_before": sum(1 for x in flood_ranks if x < rank[pk]),
                "before_12th": twelfth_start is None or r["started_at"] < twelfth_start,
                "status": r["status"],
            }
        )
    result["worst_s"] = max(s["wait_s"] for s in result["singles"])
    return result


def report(result: dict) -> None:
    print()
    print(f"{result['order']} order: window {result['window']}, the burst POSTed in {result['post_s']:.2f} s")
    print(
        f"{'entry':>8} {'wait (s)':>9} {'start #':>8} {'flood entries before':>21} {'before 12th':>12} {'ended':>8}"
    )
    for s in result["singles"]:
        print(
            f"{s['id']:>8} {s['wait_s']:>9.2f} {s['rank']:>8} {s['flood_before']:>21} "
            f"{'yes' if s['before_12th'] else 'NO':>12} {s['status']:>8}"
        )
    waits = sorted(s["wait_s"] for s in result["singles"])
    print(f"worst wait {waits[-1]:.2f} s, median {waits[len(waits) // 2]:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="a 30-entry flood: a few minutes on 2 cores")
    parser.add_argument(
        "--singles-after", type=float, default=0.0, help="seconds after the flood's last POST"
    )
    parser.add_argument("--trainers", type=int, default=1)
    parser.add_argument(
        "--slots", type=int, default=4, help="entries in flight per trainer (PODIUM_WORKER_MAX_IN_FLIGHT)"
    )
    parser.add_argument("--window", type=int, default=0, help="PODIUM_DISPATCH_WINDOW (0: derived)")
    parser.add_argument("--timeout", type=float, default=1200)
    args = parser.parse_args()
    if args.smoke:
        args.flood = 30
    if args.flood < TWELFTH:
        parser.error(f"--flood must be at least {TWELFTH}")

    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-fairness-"))
    (tmp / "media").mkdir()
    (tmp / "var").mkdir()
    db_url, drop_db = make_database(tmp)
    if not db_url.startswith("postgres"):
        print("bench/fairness.py needs PostgreSQL (DATABASE_URL=postgres://…)", file=sys.stderr)
        return 2
    redis = None
    results = []
    try:
        (tmp / "redis").mkdir()
        redis = RedisServer(tmp / "redis", tmp).start()
        os.environ["CACHE_URL"] = f"{redis.url}/1"  # this process reads the window beat derived
        setup_django(db_url, tmp / "media", tmp / "var")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        tokens = seed()
        for order in ("fifo", "fair"):
            results.append(run_order(order, args, tokens, db_url, redis, tmp))
    except BaseException:
        print(f"the processes' logs are kept in {tmp}", file=sys.stderr)
        tmp = None
        raise
    finally:
        if redis is not None:
            redis.stop()
        from django.db import connections

        connections.close_all()
        drop_db()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"fairness: a flood of {args.flood} entries and {SINGLES} single entries, {args.trainers} trainer(s) of {args.slots} slots, {os.cpu_count()} CPUs"
    )
    for result in results:
        report(result)
    fifo, fair = results
    all_before = all(s["before_12th"] for s in fair["singles"])
    print()
    print(
        f"fair order: every single entry started before the flooder's 12th: {'yes' if all_before else 'NO'}"
    )
    print(
        f"bench: fairness metric={fair['worst_s']:.2f} baseline={fifo['worst_s']:.2f} "
        f"ratio={fair['worst_s'] / fifo['worst_s']:.3f}"
    )
    return 0 if all_before else 1


if __name__ == "__main__":
    sys.exit(main())

"""A soak under faults: thousands of entries through the real pipeline while workers die.

Starts the platform as `make run` does (`python -m podium.devserver`, which restarts a
process that dies) on a fresh PostgreSQL database and a private redis-server (broker
and cache), then submits --entries entries (CSV predictions, and --configs small model
configs the trainer trains) at --rate per second from many participants, while a chaos
loop SIGKILLs a random training or scoring worker process (a Celery main process or one
of its pool processes) every 20–40 s and restarts Redis --redis-restarts times. Then it
waits until every entry is final and counts, from the database:

- entries that ended scored, or failed with a reason (the goal: all of them);
- entries lost (still created/queued/running/scoring at the end);
- entries failed without a reason;
- entries scored twice: a trigger in the soak's own database records every write of a
  score, so a second one for an entry shows;
- board rows whose entry count disagrees with the entries they count.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/soak.py [--entries 2000]

Ends with `bench: soak metric=<entries ended scored or failed with a reason>
baseline=<entries accepted> ratio=…` (goal: ratio 1.000, nothing lost or scored twice).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

from bench.loadtest import CONFIG, seed  # noqa: E402
from bench.pipeline import make_database, setup_django  # noqa: E402
from tests.e2e.harness import BIN, RedisServer, free_port, wait_until  # noqa: E402

VICTIMS = {"scoring": "scorer", "gpu,cpu": "trainer"}

AUDIT_SQL = """
CREATE TABLE soak_score_writes (submission_id bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION soak_record_score() RETURNS trigger AS $$
BEGIN
  INSERT INTO soak_score_writes (submission_id) VALUES (NEW.id);
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER soak_score_written AFTER UPDATE ON submissions_submission FOR EACH ROW
  WHEN (NEW.status = 'scored' AND (OLD.status IS DISTINCT FROM NEW.status
        OR OLD.public_score IS DISTINCT FROM NEW.public_score
        OR OLD.finished_at IS DISTINCT FROM NEW.finished_at))
  EXECUTE FUNCTION soak_record_score();
"""


def worker_processes() -> list[tuple[int, str]]:
    """(pid, role) of every Celery scorer and trainer process, pool processes included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [part.decode(errors="replace") for part in cmd]
        if not any(arg.endswith("celery") for arg in args[:2]) or "-Q" not in args:
            continue
        queues = args[args.index("-Q") + 1]
        if queues in VICTIMS:
            found.append((int(entry.name), VICTIMS[queues]))
    return found


class Chaos(threading.Thread):
    def __init__(self, redis: RedisServer, redis_restarts_at: list[float], started: float):
        super().__init__(daemon=True)
        self.redis = redis
        self.redis_restarts_at = list(redis_restarts_at)
        self.started = started
        self.done = threading.Event()
        self.kills: list[tuple[float, str, int]] = []
        self.redis_restarts: list[float] = []

    def run(self) -> None:
        rng = random.Random(7)
        next_kill = time.monotonic() + rng.uniform(20, 40)
        while not self.done.wait(0.5):
            now = time.monotonic()
            if self.redis_restarts_at and now - self.started >= self.redis_restarts_at[0]:
                self.redis_restarts_at.pop(0)
                self.redis.stop()
                time.sleep(2.0)
                self.redis.start()
                self.redis_restarts.append(now - self.started)
            if now >= next_kill:
                victims = worker_processes()
                if victims:
                    pid, role = rng.choice(victims)
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.kills.append((now - self.started, role, pid))
                    except ProcessLookupError:
                        pass
                next_kill = now + rng.uniform(20, 40)


def submit_all(url: str, slug: str, accounts: Path, predictions: Path, args) -> tuple[int, Counter]:
    tokens = [line.split()[2] for line in accounts.read_text().splitlines()]
    csv_body = predictions.read_bytes()
    configs = set(random.Random(3).sample(range(args.entries), args.configs))
    answers: Counter = Counter()
    lock = threading.Lock()

    def post(i: int) -> None:
        token = tokens[i % len(tokens)]
        headers = {"Authorization": f"Token {token}"}
        for _ in range(5):  # a refused connection while a process restarts is tried again
            try:
                with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                    if i in configs:
                        response = client.post(
                            f"/api/competitions/{slug}/submissions/", data={"config": CONFIG}
                        )
                    else:
                        response = client.post(
                            f"/api/competitions/{slug}/submissions/",
                            files={"file": ("p.csv", csv_body, "text/csv")},
                        )
                with lock:
                    answers[response.status_code] += 1
                return
            except httpx.TransportError:
                time.sleep(1.0)
        with lock:
            answers["no answer"] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        for i in range(args.entries):
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, i)
    return answers[201], answers


def count(slug: str) -> dict:
    from django.db import connection
    from django.db.models import Count

    from podium.leaderboards.models import BoardEntry
    from podium.submissions.entrants import NOT_COUNTED
    from podium.submissions.models import ACTIVE_STATUSES, Status, Submission

    entries = Submission.objects.filter(competition__slug=slug)
    by_status = Counter(dict(entries.values_list("status").annotate(n=Count("id"))))
    failed_without_reason = entries.filter(status=Status.FAILED, error_message="").count()
    reasons = Counter(
        message.split(";")[0][:90]
        for message in entries.filter(status=Status.FAILED).values_list("error_message", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT submission_id FROM soak_score_writes "
            "GROUP BY submission_id HAVING count(*) > 1) AS twice"
        )
        scored_twice = cursor.fetchone()[0]
    counted = Counter(entries.exclude(status__in=NOT_COUNTED).values_list("user_id", flat=True))
    rows = BoardEntry.objects.filter(competition__slug=slug, team__isnull=True)
    board_mismatch = sum(1 for row in rows if row.entry_count != counted.get(row.user_id, 0))
    return {
        "by_status": by_status,
        "active": sum(by_status.get(s, 0) for s in ACTIVE_STATUSES),
        "failed_without_reason": failed_without_reason,
        "reasons": reasons,
        "scored_twice": scored_twice,
        "board_mismatch": board_mismatch,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--configs", type=int, default=100, help="how many of the entries are model configs")
    parser.add_argument("--rate", type=float, default=8.0, help="entries submitted per second")
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--redis-restarts", type=int, default=2)
    parser.add_argument("--drain", type=int, default=900, help="seconds to wait for every entry to end")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("the soak counts score writes with a PostgreSQL trigger: set DATABASE_URL=postgres://…")
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="podium-soak-"))
    db_url, drop_db = make_database(tmp)
    redis = server = chaos = None
    log_path = tmp / "devserver.log"
    try:
        setup_django(db_url, tmp / "media", tmp / "var")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(AUDIT_SQL)
        slug, accounts, predictions = seed(args.participants, tmp)
        connection.close()

        redis = RedisServer(tmp, tmp).start()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "podium.settings",
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": f"{redis.url}/0",
            "CACHE_URL": f"{redis.url}/1",
            "PODIUM_PORT": str(port),
            "PODIUM_VAR_DIR": str(tmp / "var"),
            "PODIUM_MEDIA_ROOT": str(tmp / "media"),
            "PODIUM_API_URL": url,
            "PODIUM_PUBLIC_URL": url,
            "PODIUM_ENV": "test",
            "PODIUM_WEB_WORKERS": "3",
            # A killed worker's entry is taken back within seconds, as the e2e tests do.
            "PODIUM_HEARTBEAT_TIMEOUT_S": "10",
            "PODIUM_HEARTBEAT_INTERVAL_S": "2",
            "PODIUM_REAPER_INTERVAL_S": "2",
            "PODIUM_QUEUED_TIMEOUT_S": "120",
            "PODIUM_MAX_ATTEMPTS": "10",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        log = open(log_path, "ab")  # noqa: SIM115 - closed with the server
        server = subprocess.Popen(
            [str(BIN / "python"), "-m", "podium.devserver"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def up() -> bool:
            try:
                return httpx.get(url + "/api/competitions/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, f"the platform on {url}")
        wait_until(lambda: len(worker_processes()) >= 3, 60, "the scorer and the trainer")

        submit_seconds = args.entries / args.rate
        started = time.monotonic()
        chaos = Chaos(
            redis,
            [submit_seconds * (k + 1) / (args.redis_restarts + 1) for k in range(args.redis_restarts)],
            started,
        )
        chaos.start()
        accepted, answers = submit_all(url, slug, accounts, predictions, args)
        submitted = time.monotonic() - started

        from podium.submissions.models import ACTIVE_STATUSES, Submission

        def drained() -> bool:
            return not Submission.objects.filter(competition__slug=slug, status__in=ACTIVE_STATUSES).exists()

        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline and not drained():
            time.sleep(2)
        chaos.done.set()
        chaos.join()
        took = time.monotonic() - started
        result = count(slug)
        connection.close()
    except BaseException:
        print(f"the processes' logs are kept in {tmp}", file=sys.stderr)
        tmp = None
        raise
    finally:
        if chaos is not None:
            chaos.done.set()
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        restarts_logged = log_path.read_text(errors="replace").count(" died: ") if log_path.exists() else 0
        if redis is not None:
            redis.stop()
        from django.db import connections

        connections.close_all()
        drop_db()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    by_status = result["by_status"]
    total = sum(by_status.values())
    ended = by_status.get("scored", 0) + by_status.get("failed", 0) - result["failed_without_reason"]
    print()
    print(
        f"soak: {args.entries} entries ({args.configs} model configs) at {args.rate:g}/s from "
        f"{args.participants} participants, submitted in {submitted:.0f} s, all final after {took:.0f} s"
    )
    print(f"POST answers: {dict(answers)}")
    print(
        f"chaos: {len(chaos.kills)} worker processes killed (SIGKILL): {Counter(r for _, r, _ in chaos.kills)}"
    )
    print(f"       at {', '.join(f'{t:.0f}s {r}' for t, r, _ in chaos.kills)}")
    print(f"       Redis restarted at {', '.join(f'{t:.0f}s' for t in chaos.redis_restarts)}")
    print(f"       the launcher restarted {restarts_logged} dead processes (its 'died:' lines)")
    print(f"entries in the database: {total}, by status {dict(by_status)}")
    print(f"lost (not final): {result['active']}")
    print(f"failed without a reason: {result['failed_without_reason']}")
    print(f"scored twice (score writes per entry > 1): {result['scored_twice']}")
    print(f"board rows whose entry count is wrong: {result['board_mismatch']}")
    for reason, n in result["reasons"].most_common(8):
        print(f"  failed x{n}: {reason}")
    print(f"bench: soak metric={ended} baseline={accepted} ratio={ended / max(accepted, 1):.3f}")
    ok = (
        ended == accepted == total
        and result["active"] == 0
        and result["scored_twice"] == 0
        and result["board_mismatch"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

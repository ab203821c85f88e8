"""The submission pipeline with warm processes: POST-to-board latency and HTTP intake rate.

Starts a private platform (gunicorn, the scorer, beat; a private redis-server as
the broker when one can be started, else the filesystem broker) on a fresh
database (a new PostgreSQL database when DATABASE_URL points at PostgreSQL,
dropped at the end; else a temporary SQLite file), then measures:

1. latency: 50 small prediction CSVs, one after the other, each from its own
   participant, timed from the start of the POST until the participant's row on
   the public board (GET …/leaderboard/) shows that entry's score: p50, p95
   (goal p50 <= 1 s);
2. intake: N small CSV submissions POSTed by 16 concurrent clients through
   gunicorn (4 workers x 2 threads by default), accepted (201) per second (goal >= 100/s),
   with the scorer stopped so that only intake is measured;
3. baseline: the same intake through a single-process `manage.py runserver`
   (threaded, no gunicorn), the development server a naive deployment would use.

    python bench/pipeline.py [--entries 50] [--intake 600]
"""

from __future__ import annotations

import argparse
import http.client
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
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

from tests.e2e.harness import BIN, Platform, Proc, RedisServer, free_port, wait_until  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def make_database(tmp: Path) -> tuple[str, callable]:
    """A fresh database for the bench and a function that drops it."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"podium_bench_pipeline_{os.getpid()}"
        admin = psycopg.connect(url, autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        base = url.rsplit("/", 1)[0]

        def drop():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()

        return f"{base}/{name}", drop
    return f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: None


def setup_django(db_url: str, media: Path, var: Path) -> None:
    os.environ.update(
        {
            "DATABASE_URL": db_url,
            "PODIUM_MEDIA_ROOT": str(media),
            "PODIUM_VAR_DIR": str(var),
            "DJANGO_SETTINGS_MODULE": "podium.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def seed(n_users: int) -> tuple[str, list[str], bytes]:
    """A competition on iris and participants with API tokens; returns (slug, tokens, a CSV)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from podium.accounts.authentication import hash_token_key
    from podium.accounts.models import ApiToken
    from podium.competitions.services import competition_create, competition_join, dataset_import_builtin
    from tests.e2e.helpers import iris_truth, predictions_csv

    now = timezone.now()
    competition = competition_create(
        dataset=dataset_import_builtin(slug="iris"),
        slug="iris-bench",
        title="Iris pipeline bench",
        metric="accuracy",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        daily_limit=1_000_000,
    )
    users = get_user_model()
    tokens = []
    for i in range(n_users):
        user = users.objects.create_user(username=f"bench{i}", email=f"bench{i}@example.com", password=None)
        competition_join(competition=competition, user=user)
        key = secrets.token_urlsafe(32)
        ApiToken.objects.create(user=user, name="bench", prefix=key[:8], key_hash=hash_token_key(key))
        tokens.append(key)
    return competition.slug, tokens, predictions_csv(iris_truth())


def post_csv(client: httpx.Client, slug: str, csv: bytes) -> httpx.Response:
    return client.post(
        f"/api/competitions/{slug}/submissions/", files={"file": ("preds.csv", csv, "text/csv")}
    )


def latency(base: str, slug: str, tokens: list[str], csv: bytes) -> list[float]:
    times = []
    for token in tokens:
        with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=30) as client:
            t0 = time.perf_counter()
            answer = post_csv(client, slug, csv)
            assert answer.status_code == 201, answer.text
            sid = answer.json()["id"]
            while True:
                mine = client.get(f"/api/competitions/{slug}/leaderboard/").json().get("mine") or {}
                if mine.get("submission_id") == sid and mine.get("score") is not None:
                    break
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError(
                        f"entry {sid} not on the board after 30 s: {client.get(f'/api/submissions/{sid}/').text}"
                    )
                time.sleep(0.005)
            times.append(time.perf_counter() - t0)
    return times


def multipart_body(csv: bytes) -> tuple[bytes, str]:
    """The POST body once, as any multipart client sends it; (body, content type)."""
    boundary = "podium-bench-" + secrets.token_hex(8)
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="preds.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


WARM_ENTRIES = 64
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_role(web_pgid: int, broker_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of the server's processes, by role, read from /proc.

    A rate moves with how fast the box is that hour; CPU per entry says where the time
    goes and what two cores can take. The database is every PostgreSQL process on the
    box (the bench is the only client while it runs, under the bench lock)."""
    totals = {"web": 0.0, "database": 0.0, "broker": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended between the listing and the read
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        pid, pgrp = int(stat.parent.name), int(fields[2])
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        if pgrp == web_pgid:
            totals["web"] += seconds
        elif comm.startswith("postgres"):
            totals["database"] += seconds
        elif pid == broker_pid:
            totals["broker"] += seconds
    own = os.times()
    totals["client"] = own.user + own.system
    return totals


def intake(
    base: str,
    slug: str,
    tokens: list[str],
    csv: bytes,
    total: int,
    concurrency: int = 16,
    cpu: callable = lambda: {},
) -> tuple[float, int, dict[str, float]]:
    """Accepted submissions per second with `concurrency` clients; returns (rate, refused,
    CPU milliseconds per accepted entry by role, as `cpu` reads them).

    Each entry comes on a connection of its own, as participants' clients send them (a
    kept-alive connection would also stay with one server process, and a few processes
    would serve all 16). The clients are a load generator, not a participant's client:
    the standard library sending a body encoded once, so that on a 2-core machine the
    server, not the client, gets the CPU (httpx costs ~2 ms of CPU per multipart request)."""
    url = urlsplit(base)
    path = f"/api/competitions/{slug}/submissions/"
    body, content_type = multipart_body(csv)
    counter = iter(range(total))
    lock = threading.Lock()
    accepted, refused = [0], [0]

    def post(token: str) -> int:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        try:
            conn.request(
                "POST",
                path,
                body=body,
                headers={
                    "Authorization": f"Token {token}",
                    "Content-Type": content_type,
                    "Connection": "close",
                },
            )
            answer = conn.getresponse()
            answer.read()
            return answer.status
        finally:
            conn.close()

    def run(token: str):
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            status = post(token)
            with lock:
                if status == 201:
                    accepted[0] += 1
                else:
                    refused[0] += 1

    # Warm every server process first (imports, the answer key, the broker and database
    # connections of each process): entries from every client, not timed.
    for i in range(WARM_ENTRIES):
        assert post(tokens[i % concurrency % len(tokens)]) == 201
    threads = [threading.Thread(target=run, args=(tokens[i % len(tokens)],)) for i in range(concurrency)]
    cpu_before = cpu()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu_after = cpu()
    per_entry = {
        role: (cpu_after[role] - cpu_before[role]) * 1000 / max(accepted[0], 1) for role in cpu_before
    }
    return accepted[0] / wall, refused[0], per_entry


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--intake", type=int, default=600)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-pipeline-"))
    media, var = tmp / "media", tmp / "var"
    media.mkdir()
    var.mkdir()
    db_url, drop_db = make_database(tmp)
    redis = None
    platform = None
    baseline_proc = None
    try:
        setup_django(db_url, media, var)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        warm = 3
        slug, tokens, csv = seed(max(args.entries + warm, 16))
        if shutil.which("redis-server"):
            (tmp / "redis").mkdir()
            redis = RedisServer(tmp / "redis", tmp).start()
        broker = f"{redis.url}/0" if redis else "filesystem://"
        platform = Platform(
            tmp=tmp,
            db_url=db_url,
            broker_url=broker,
            cache_url=f"{redis.url}/1" if redis else "locmem://",
            media_root=media,
        )
        platform.env["PODIUM_LOG_LEVEL"] = "WARNING"
        # As a deployment runs: DEBUG keeps every query's SQL in memory and times it, and the
        # harness's fault-test timings (a reaper every second, a worker lost after 5 s) would
        # have beat re-sending every entry the stopped scorer leaves waiting during intake.
        platform.env["PODIUM_DEBUG"] = "0"
        for name in (
            "PODIUM_HEARTBEAT_TIMEOUT_S",
            "PODIUM_HEARTBEAT_INTERVAL_S",
            "PODIUM_REAPER_INTERVAL_S",
            "PODIUM_QUEUED_TIMEOUT_S",
            "PODIUM_MAX_ATTEMPTS",
        ):
            platform.env.pop(name, None)
        platform.start_web(workers=args.web_workers, threads=args.web_threads)
        platform.start_scorer()
        platform.start_beat()

        # Warm the scorer's answer-key cache and imports, with participants of their own:
        # an equal score of a later entry would not replace a participant's row (ties go to the earlier).
        latency(platform.url, slug, tokens[-warm:], csv)
        times = latency(platform.url, slug, tokens[: args.entries], csv)
        p50, p95 = pct(times, 0.5), pct(times, 0.95)

        platform.procs["scorer"].stop()
        web_pgid = platform.procs["web"].popen.pid  # gunicorn runs in a session of its own
        broker_pid = redis.proc.popen.pid if redis else None
        rate, refused, cpu_ms = intake(
            platform.url, slug, tokens, csv, args.intake, cpu=lambda: cpu_by_role(web_pgid, broker_pid)
        )

        platform.stop()
        port = free_port()
        baseline_proc = Proc(
            "runserver",
            [str(BIN / "python"), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            # A thread per request: persistent connections would pile up until PostgreSQL
            # refuses more clients.
            {**platform.env, "PODIUM_DB_CONN_MAX_AGE": "0"},
            tmp,
        ).start()
        wait_until(lambda: _up(f"http://127.0.0.1:{port}"), 60, "runserver")
        base_rate, base_refused, _ = intake(f"http://127.0.0.1:{port}", slug, tokens, csv, args.intake)
    except BaseException:
        print(f"the processes' logs are kept in {tmp}", file=sys.stderr)
        tmp = None
        raise
    finally:
        if baseline_proc is not None:
            baseline_proc.stop()
        if platform is not None:
            platform.stop()
        if redis is not None:
            redis.stop()
        from django.db import connections

        connections.close_all()
        drop_db()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    engine = "PostgreSQL" if db_url.startswith("postgres") else "SQLite"
    print()
    print(f"pipeline on {engine}, broker {'redis' if redis else 'filesystem'}, {os.cpu_count()} CPUs")
    print(f"{'measure':<48} {'value':>12} {'goal':>10}")
    print(
        f"{'POST -> on the board, p50 (' + str(len(times)) + ' entries)':<48} {p50 * 1000:>10.0f}ms {'<= 1000ms':>10}"
    )
    print(f"{'POST -> on the board, p95':<48} {p95 * 1000:>10.0f}ms")
    label = f"intake, gunicorn {args.web_workers}x{args.web_threads}, 16 clients (accepted/s)"
    print(f"{label:<48} {rate:>12.1f} {'>= 100/s':>10}")
    print(f"{'intake, runserver (baseline, accepted/s)':<48} {base_rate:>12.1f}")
    total_ms = sum(cpu_ms.values())
    parts = ", ".join(f"{role} {ms:.1f}" for role, ms in cpu_ms.items())
    print(f"CPU per accepted entry (gunicorn run): {total_ms:.1f} ms ({parts})")
    print(
        f"  -> {os.cpu_count()} cores fully used would take {os.cpu_count() * 1000 / total_ms:.0f} entries/s"
    )
    if refused or base_refused:
        print(f"refused answers: gunicorn {refused}, runserver {base_refused}")
    print(f"bench: pipeline metric={rate:.1f} baseline={base_rate:.1f} ratio={rate / base_rate:.2f}")
    return 0


def _up(url: str) -> bool:
    try:
        httpx.get(url + "/api/competitions/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())

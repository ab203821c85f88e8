"""The board kept on write against the naive board that aggregates all submissions.

Fills a private PostgreSQL database (created here, dropped at the end) with 10,000
participants and 1,000,000 scored entries (generated server-side with
INSERT … SELECT, indexes built after the load), builds the board rows with one
set-based statement, checks a sample of them against the service's own rebuild,
then measures through a real gunicorn server:
- GET a board page (random pages over the whole board, 500 requests: p50, p95;
  goal p95 <= 30 ms), signed in as a participant so the caller's own row is
  included in every answer;
- GET as a participant whose own row sits on a deep page (rank ~9,000);
- GET a board page again after the 200 scores below have updated the board (200 requests);
and in-process:
- applying one new score with board_record_score inside a transaction, as the scorer
  does (median over 200; goal <= 5 ms), and the same including a commit of its own
  (the scorer commits its own writes anyway; the fsync is the disk's, not the board's);
- the naive page query (best entry per participant by a window over all
  submissions, then the page), the same pages, for the ratio.

The competition shows `--columns` other metrics (default 3) next to its ranking score,
as a competition with several metrics does: every entry stores their scores, every board
row the shown entry's, and every page answer carries them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/leaderboard.py
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT))

BASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
if not BASE_URL.startswith("postgres"):
    sys.exit("bench/leaderboard.py needs PostgreSQL: set DATABASE_URL=postgres://…")
DB_NAME = f"podium_bench_board_{os.getpid()}"
parsed = urlparse(BASE_URL)
BENCH_URL = urlunparse(parsed._replace(path="/" + DB_NAME))
os.environ["DATABASE_URL"] = BENCH_URL
os.environ["PODIUM_DEBUG"] = "0"  # DEBUG keeps every query in memory: not how production runs
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

import psycopg  # noqa: E402


def admin_conn():
    return psycopg.connect(BASE_URL.replace("postgres://", "postgresql://", 1), autocommit=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def insert_generated(cursor, model, exprs: dict[str, str], from_sql: str, params: dict) -> None:
    """INSERT … SELECT generated rows server-side; columns not in `exprs` get the model's defaults."""
    from psycopg.types.json import Jsonb

    columns, values = [], []
    for i, f in enumerate(f for f in model._meta.concrete_fields if not f.primary_key):
        columns.append(f.column)
        if f.attname in exprs:
            values.append(exprs[f.attname])
            continue
        default = f.get_default()
        if default is not None and f.get_internal_type() == "JSONField":
            default = Jsonb(default)
        params[f"d{i}"] = default
        values.append(f"%(d{i})s")
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {from_sql}",
        params,
    )


COLUMN_METRICS = ["balanced_accuracy", "macro_f1", "matthews_corrcoef", "weighted_f1", "micro_f1"]


def extra_scores_sql(names: list[str], public: str, private: str) -> str:
    """A submission's `extra_scores` built server-side: each metric a shift of the primary."""
    if not names:
        return "'{}'::jsonb"
    parts = ", ".join(
        f"'{name}', jsonb_build_object('public', {public} - {0.01 * (i + 1)}, 'private', {private} - {0.01 * (i + 1)})"
        for i, name in enumerate(names)
    )
    return f"jsonb_build_object({parts})"


def fill(n_users: int, per_user: int, seed: int, columns: list[str]):
    from django.db import connection
    from django.utils import timezone

    from podium.accounts.authentication import hash_token_key
    from podium.accounts.models import ApiToken, User
    from podium.competitions.models import Competition, Dataset
    from podium.submissions.models import Submission

    now = timezone.now()
    start = now - timedelta(days=60)
    dataset = Dataset.objects.create(slug="bench", title="Bench", task_type="classification", manifest={})
    competition = Competition.objects.create(
        slug="bench-board",
        title="Bench board",
        dataset=dataset,
        task_type="classification",
        metric="accuracy",
        extra_metrics=columns,
        higher_is_better=True,
        starts_at=start,
        ends_at=now + timedelta(days=30),
        daily_limit=100,
    )
    with connection.cursor() as cur:
        insert_generated(
            cur,
            User,
            {
                "username": "'p' || lpad(g::text, 5, '0')",
                "email": "'p' || lpad(g::text, 5, '0') || '@example.com'",
                "password": "'!'",
                "is_active": "true",
            },
            "FROM generate_series(0, %(n)s - 1) AS g",
            {"n": n_users},
        )
    user_ids = list(User.objects.order_by("id").values_list("id", flat=True))

    with connection.cursor() as cur:
        # Build the submission indexes once after the load (a sorted build) instead of
        # maintaining them row by row; the definitions are Django's, read back from the catalog.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
            [Submission._meta.db_table, "%pkey"],
        )
        index_defs = cur.fetchall()
        cur.execute(
            "SELECT conname FROM pg_constraint WHERE conindid = ANY(SELECT indexrelid FROM pg_index "
            "WHERE indrelid = %s::regclass) AND contype = 'u'",
            [Submission._meta.db_table],
        )
        unique_backed = {row[0] for row in cur.fetchall()}
        index_defs = [(n, d) for n, d in index_defs if n not in unique_backed]
        for name, _ in index_defs:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("SET maintenance_work_mem = '256MB'")
        # Scores around a per-participant skill (normal noise by Box-Muller), 4 digits so
        # that real ties occur; the private score is the public one plus noise.
        cur.execute("SELECT setseed(%s)", [seed / 1000])
        gauss = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
        insert_generated(
            cur,
            Submission,
            {
                "competition_id": "%(c)s",
                "user_id": "uid",
                "kind": "'predictions'",
                "status": "'scored'",
                "created_at": "at",
                "finished_at": "at",
                "public_score": "pub",
                "private_score": "priv",
                "public_ci_low": "pub - 0.02",
                "public_ci_high": "pub + 0.02",
                "extra_scores": extra_scores_sql(columns, "pub", "priv"),
                "attempt": "1",
            },
            f"""FROM (
              WITH u AS MATERIALIZED (
                SELECT id, 0.55 + 0.35 * random() AS skill FROM accounts_user WHERE username LIKE 'p%%'
              ), a AS MATERIALIZED (
                SELECT u.id AS uid, round(least(1, greatest(0, u.skill + 0.03 * {gauss}))::numeric, 4)::float8 AS pub
                FROM u CROSS JOIN generate_series(1, %(per)s) AS g
              )
              SELECT uid, pub,
                     round(least(1, greatest(0, pub + 0.02 * {gauss}))::numeric, 4)::float8 AS priv,
                     %(start)s::timestamptz + random() * %(span)s * interval '1 second' AS at
              FROM a
            ) AS generated""",
            {"c": competition.pk, "per": per_user, "start": start, "span": (now - start).total_seconds()},
        )
        for _, definition in index_defs:
            cur.execute(definition)
    key = secrets.token_urlsafe(24)
    return competition, user_ids, key, ApiToken, hash_token_key


BOARD_FILL = """
INSERT INTO leaderboards_boardentry
  (competition_id, user_id, team_id, score, rank_key, submission_id, submitted_at, ci_low, ci_high,
   entry_count, last_submitted_at, private_score, private_rank_key, private_submission_id,
   private_submitted_at, updated_at, extra_scores, private_extra_scores)
WITH ranked AS (
  SELECT id, user_id, public_score, private_score, public_ci_low, public_ci_high, created_at, extra_scores,
         ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY public_score DESC, created_at, id) AS rn,
         COUNT(*) OVER (PARTITION BY user_id) AS n,
         MAX(created_at) OVER (PARTITION BY user_id) AS last_at
  FROM submissions_submission WHERE competition_id = %(c)s AND status = 'scored'
), picks AS (
  SELECT DISTINCT ON (user_id) user_id, id, private_score, created_at, extra_scores
  FROM ranked WHERE rn <= %(k)s ORDER BY user_id, private_score DESC, created_at, id
)
SELECT %(c)s, b.user_id, NULL, b.public_score, -b.public_score, b.id, b.created_at, b.public_ci_low,
       b.public_ci_high, b.n, b.last_at, p.private_score, -p.private_score, p.id, p.created_at, now(),
       COALESCE((SELECT jsonb_object_agg(k, v -> 'public') FROM jsonb_each(b.extra_scores) AS e(k, v)), '{}'),
       COALESCE((SELECT jsonb_object_agg(k, v -> 'private') FROM jsonb_each(p.extra_scores) AS e(k, v)), '{}')
FROM ranked b JOIN picks p ON p.user_id = b.user_id WHERE b.rn = 1
"""

NAIVE_PAGE = """
SELECT user_id, public_score, created_at, id, n FROM (
  SELECT user_id, public_score, created_at, id,
         ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY public_score DESC, created_at, id) AS rn,
         COUNT(*) OVER (PARTITION BY user_id) AS n
  FROM submissions_submission WHERE competition_id = %s AND status = 'scored'
) t WHERE rn = 1 ORDER BY public_score DESC, created_at, id LIMIT %s OFFSET %s
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--per-user", type=int, default=100)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--naive", type=int, default=3, help="naive page queries to time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--columns", type=int, default=3, choices=range(len(COLUMN_METRICS) + 1), help="other metrics shown"
    )
    ap.add_argument("--keep", action="store_true", help="keep the database (for EXPLAIN); drop it by hand")
    args = ap.parse_args()
    t_start = time.perf_counter()

    with admin_conn() as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, transaction

        call_command("migrate", verbosity=0, interactive=False)
        t0 = time.perf_counter()
        columns = COLUMN_METRICS[: args.columns]
        competition, user_ids, key, ApiToken, hash_token_key = fill(
            args.users, args.per_user, args.seed, columns
        )
        with connection.cursor() as cur:
            cur.execute(BOARD_FILL, {"c": competition.pk, "k": competition.max_final_picks})
        # What autovacuum does on a live database: statistics and the visibility map.
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        fill_s = time.perf_counter() - t0

        from podium.competitions.models import Competition
        from podium.leaderboards.models import BoardEntry
        from podium.leaderboards.selectors import board_rank_of
        from podium.leaderboards.services import board_rebuild, board_record_score
        from podium.submissions.entrants import Entrant
        from podium.submissions.models import Submission

        # The bulk fill must agree with the service's own rules: rebuild a sample and compare.
        fields = [
            "score",
            "submission_id",
            "entry_count",
            "private_score",
            "private_submission_id",
            "extra_scores",
            "private_extra_scores",
        ]
        for uid in random.Random(1).sample(user_ids, 20):
            bulk = BoardEntry.objects.values(*fields).get(competition=competition, user_id=uid)
            board_rebuild(entrant=Entrant(competition_id=competition.pk, user_id=uid, team_id=None))
            again = BoardEntry.objects.values(*fields).get(competition=competition, user_id=uid)
            assert bulk == again, (uid, bulk, again)

        deep = BoardEntry.objects.filter(competition=competition).order_by(
            "rank_key", "submitted_at", "submission_id"
        )
        top_user = deep.first().user_id
        deep_entry = deep[int(args.users * 0.9)]
        deep_rank = board_rank_of(entry=deep_entry, board="public")
        tokens = {}
        for uid in (top_user, deep_entry.user_id):
            k = secrets.token_urlsafe(24)
            ApiToken.objects.create(user_id=uid, name="bench", prefix=k[:8], key_hash=hash_token_key(k))
            tokens[uid] = k

        port = free_port()
        env = {**os.environ, "DATABASE_URL": BENCH_URL, "PODIUM_DEBUG": "0"}
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "podium.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
                "--chdir",
                str(ROOT),
                "--pythonpath",
                "platform",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        import logging

        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)

        base = f"http://127.0.0.1:{port}/api/competitions/{competition.slug}/leaderboard/"
        client = httpx.Client(timeout=30)
        for _ in range(100):
            try:
                client.get(base)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        pages = args.users // 50
        rng = random.Random(2)

        def timed_get(params, token):
            t = time.perf_counter()
            r = client.get(base, params=params, headers={"Authorization": f"Token {token}"})
            ms = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, r.text[:300]
            return ms, r.json()

        for _ in range(20):  # warm both workers
            timed_get({"page": rng.randint(1, pages)}, tokens[top_user])
        page_ms = []
        for _ in range(args.requests):
            ms, body = timed_get({"page": rng.randint(1, pages)}, tokens[top_user])
            page_ms.append(ms)
        assert body["count"] == args.users and len(body["results"]) == 50
        assert [m["name"] for m in body["extra_metrics"]] == columns
        assert all(set(row["extra_scores"]) == set(columns) for row in body["results"])
        own_ms = []
        for _ in range(100):
            ms, body = timed_get({"page": 1}, tokens[deep_entry.user_id])
            own_ms.append(ms)
        assert body["mine"]["rank"] == deep_rank, (body["mine"], deep_rank)

        # The framework's floor on this machine: the same endpoint on an empty board.
        empty = Competition.objects.create(
            slug="bench-empty",
            title="Empty",
            dataset=competition.dataset,
            task_type="classification",
            metric="accuracy",
            higher_is_better=True,
            starts_at=competition.starts_at,
            ends_at=competition.ends_at,
        )
        empty_url = base.replace(competition.slug, empty.slug)
        floor_ms = []
        for _ in range(100):
            t = time.perf_counter()
            r = client.get(empty_url, headers={"Authorization": f"Token {tokens[top_user]}"})
            floor_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.json()["count"] == 0

        # One new score applied to the board, as the scorer does (inside its transaction).
        apply_ms, commit_ms = [], []
        for i in range(200):
            uid = rng.choice(user_ids)
            public = round(rng.uniform(0.5, 0.95), 4)
            s = Submission.objects.create(
                competition=competition,
                user_id=uid,
                kind="predictions",
                status="scored",
                public_score=public,
                private_score=public,
                public_ci_low=public - 0.02,
                public_ci_high=public + 0.02,
                extra_scores={n: {"public": public - 0.01, "private": public - 0.01} for n in columns},
                attempt=1,
                finished_at=datetime.now(UTC),
            )
            s.competition = competition
            t = time.perf_counter()
            with transaction.atomic():
                board_record_score(submission=s)
                apply_ms.append((time.perf_counter() - t) * 1000)
            commit_ms.append((time.perf_counter() - t) * 1000)
            assert (
                i
                or BoardEntry.objects.get(competition=competition, user_id=uid).entry_count
                == args.per_user + 1
            )

        # The page reads again once the scores above have touched the board: updated rows
        # are no longer all-visible, so the index-only scans check the heap (a live board's
        # usual state between vacuums; the first measure runs just after VACUUM).
        after_ms = []
        for _ in range(200):
            ms, _body = timed_get({"page": rng.randint(1, pages)}, tokens[top_user])
            after_ms.append(ms)

        # The same page reads in-process (the selector's SQL and ORM work, no HTTP), to compare
        # like with like against the naive SQL below.
        from podium.accounts.models import User
        from podium.leaderboards.selectors import board_page

        viewer = User.objects.get(pk=top_user)
        selector_ms = []
        for _ in range(100):
            t = time.perf_counter()
            board_page(competition=competition, page=rng.randint(1, pages), user=viewer)
            selector_ms.append((time.perf_counter() - t) * 1000)

        # The naive board: aggregate every submission for each page read.
        naive_ms = []
        with connection.cursor() as cur:
            for _ in range(args.naive):
                t = time.perf_counter()
                cur.execute(NAIVE_PAGE, [competition.pk, 50, 50 * rng.randint(0, pages - 1)])
                cur.fetchall()
                naive_ms.append((time.perf_counter() - t) * 1000)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if args.keep:
            print(f"kept database {DB_NAME}")
        else:
            with admin_conn() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

    p50, p95 = pct(page_ms, 50), pct(page_ms, 95)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} at the end (other jobs share the box)")
    naive_p50 = statistics.median(naive_ms)
    print(
        f"fill: {args.users:,} participants, {args.users * args.per_user:,} scored entries in {fill_s:.1f} s; "
        f"{len(columns)} other metric columns ({', '.join(columns) or 'none'})"
    )
    print(f"{'measure':42} {'p50 ms':>9} {'p95 ms':>9}")
    print(f"{'GET board page (HTTP, kept on write)':42} {p50:9.2f} {p95:9.2f}   goal p95 <= 30")
    print(f"{'GET an empty board (HTTP: the floor)':42} {pct(floor_ms, 50):9.2f} {pct(floor_ms, 95):9.2f}")
    print(
        f"{'GET board page after the 200 scores (HTTP)':42} {pct(after_ms, 50):9.2f} {pct(after_ms, 95):9.2f}"
    )
    print(
        f"{'GET page 1 + own row at rank ' + str(deep_rank) + ' (HTTP)':42} {pct(own_ms, 50):9.2f} {pct(own_ms, 95):9.2f}"
    )
    print(
        f"{'apply one new score (board_record_score)':42} {statistics.median(apply_ms):9.2f} {pct(apply_ms, 95):9.2f}   goal p50 <= 5"
    )
    print(
        f"{'  the same with its own commit (fsync)':42} {statistics.median(commit_ms):9.2f} {pct(commit_ms, 95):9.2f}"
    )
    print(
        f"{'board page in-process (board_page, no HTTP)':42} {pct(selector_ms, 50):9.2f} {pct(selector_ms, 95):9.2f}"
    )
    print(f"{'naive page query (SQL only, no HTTP)':42} {naive_p50:9.2f} {pct(naive_ms, 95):9.2f}")
    print(
        f"naive SQL p50 / board in-process p50 = {naive_p50 / pct(selector_ms, 50):.0f}x; "
        f"naive SQL p50 / board HTTP p50 = {naive_p50 / p50:.0f}x; total {time.perf_counter() - t_start:.0f} s"
    )
    print(
        f"bench: leaderboard metric={p95:.2f}ms baseline={pct(naive_ms, 95):.2f}ms ratio={pct(naive_ms, 95) / p95:.1f}"
    )


if __name__ == "__main__":
    main()

"""The competition list with its participant and entry counts in one query, against N+1 counting.

Fills a private database (a SQLite file in a temporary folder by default, or a
private PostgreSQL database when DATABASE_URL=postgres://… is set; dropped at the
end) with 300 competitions, 2,000 users, 20,000 participations and 80,000
submissions, then times GET /api/competitions/?page_size=100 through Django's
test client (the whole view: selector, serializer, pagination, JSON), 40 requests:
- metric: the real endpoint (correlated COUNT subqueries, 2 queries per page);
- baseline: the same page with the counts taken per competition (2 COUNT queries
  per row), the naive way an ORM template would do it.

    python bench/competition_list.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT))

N_COMPETITIONS, N_USERS, JOINS_PER_USER, ENTRIES_PER_JOIN = 300, 2000, 10, 4
REQUESTS = 40

tmp = tempfile.mkdtemp(prefix="podium-bench-list-")
PG = os.environ.get("DATABASE_URL", "").startswith("postgres")
DB_NAME = f"podium_bench_list_{os.getpid()}"
if PG:
    base = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path="/" + DB_NAME))
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
os.environ["PODIUM_VAR_DIR"] = tmp
os.environ["PODIUM_DEBUG"] = "0"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql)


def fill() -> None:
    import random
    from datetime import timedelta

    from django.utils import timezone

    from podium.accounts.models import User
    from podium.competitions.models import Competition, Participation, Phase
    from podium.competitions.services import dataset_import_builtin
    from podium.submissions.models import Submission

    rng = random.Random(0)
    dataset = dataset_import_builtin(slug="iris")
    now = timezone.now()
    Competition.objects.bulk_create(
        Competition(
            slug=f"cup-{i}",
            title=f"Cup {i}",
            dataset=dataset,
            task_type="classification",
            metric="accuracy",
            higher_is_better=True,
            starts_at=now - timedelta(days=rng.randint(0, 30)),
            ends_at=now + timedelta(days=rng.randint(-10, 60)),
        )
        for i in range(N_COMPETITIONS)
    )
    User.objects.bulk_create(User(username=f"u{i}", password="!") for i in range(N_USERS))
    comp_ids = list(Competition.objects.values_list("pk", flat=True))
    Phase.objects.bulk_create(
        Phase(competition_id=c, number=1, slug="main", title="Main phase") for c in comp_ids
    )
    phase_of = dict(Phase.objects.values_list("competition_id", "pk"))
    user_ids = list(User.objects.values_list("pk", flat=True))
    joins = [(c, u) for u in user_ids for c in rng.sample(comp_ids, JOINS_PER_USER)]
    Participation.objects.bulk_create(
        (Participation(competition_id=c, user_id=u, accepted_rules_at=now) for c, u in joins), batch_size=5000
    )
    statuses = ["scored", "scored", "scored", "failed", "queued"]
    Submission.objects.bulk_create(
        (
            Submission(
                competition_id=c,
                phase_id=phase_of[c],
                user_id=u,
                kind="predictions",
                status=rng.choice(statuses),
            )
            for c, u in joins
            for _ in range(ENTRIES_PER_JOIN)
        ),
        batch_size=5000,
    )


def naive_page(request_user):
    """The list page with counts taken row by row (the baseline)."""
    from podium.competitions.api import CompetitionListOutput
    from podium.competitions.models import Competition, Participation

    rows = list(Competition.objects.select_related("dataset").order_by("-starts_at", "slug")[:100])
    Competition.objects.count()
    for c in rows:
        c.n_participants = c.participations.count()
        c.n_entries = c.submissions.filter(status="scored").count()
        c.has_joined = Participation.objects.filter(competition=c, user=request_user).exists()
    return CompetitionListOutput(rows, many=True).data


def timed(fn) -> list[float]:
    fn()  # warm caches and connections
    out = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    if PG:
        _pg_admin(f'CREATE DATABASE "{DB_NAME}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from rest_framework.test import APIClient

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        fill()
        if PG:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would gather them
        print(f"filled in {time.perf_counter() - started:.1f} s ({connection.vendor})")

        from podium.accounts.models import User

        user = User.objects.get(username="u1")
        client = APIClient()
        client.force_authenticate(user)

        def endpoint():
            answer = client.get("/api/competitions/?page_size=100")
            assert answer.status_code == 200, answer.content[:300]
            return answer.json()

        body = endpoint()
        expected = {r["slug"]: (r["n_participants"], r["n_entries"]) for r in body["results"]}
        check = {r["slug"]: (r["n_participants"], r["n_entries"]) for r in naive_page(user)}
        assert expected == check, "the two ways disagree on the counts"
        # The test client clears connection.queries at each request: count with a wrapper.
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *a: queries.append(sql) or execute(sql, *a)):
            endpoint()
        from podium.competitions.selectors import competition_list

        def queryset_only():
            list(competition_list(user=user).order_by("-starts_at", "slug")[:100])

        qs_ms = statistics.median(timed(queryset_only))
        if os.environ.get("BENCH_EXPLAIN"):
            print(competition_list(user=user).order_by("-starts_at", "slug")[:100].explain())
        metric = timed(endpoint)
        baseline = timed(lambda: naive_page(user))
        m, b = statistics.median(metric), statistics.median(baseline)
        print(f"{'':24}{'p50 ms':>10}{'p95 ms':>10}")
        print(f"{'endpoint (subqueries)':24}{m:10.1f}{sorted(metric)[int(0.95 * len(metric)) - 1]:10.1f}")
        print(f"{'naive (N+1 counts)':24}{b:10.1f}{sorted(baseline)[int(0.95 * len(baseline)) - 1]:10.1f}")
        print(f"queries per page: endpoint {len(queries)}, naive {2 + 3 * len(expected)}")
        print(f"of which the annotated page query alone: {qs_ms:.1f} ms")
        print(f"bench: competition_list metric={m:.1f}ms baseline={b:.1f}ms ratio={m / b:.2f}")
    finally:
        if PG:
            from django.db import connections

            connections.close_all()
            _pg_admin(f'DROP DATABASE IF EXISTS "{DB_NAME}"')


if __name__ == "__main__":
    main()

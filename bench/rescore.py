"""Rescoring every entry of a competition: the rescore job against scoring each entry in a
task of its own through the normal path, in one run.

Fills a private database (a SQLite file in a temporary folder by default, or a private
PostgreSQL database when DATABASE_URL=postgres://… is set; dropped at the end) with a
competition on a 10,000-row test set (3 classes, accuracy) and 10,000 scored entries of
2,000 participants, each a full predictions file (40 distinct files, stored once each and
shared by the entries' rows: every entry's file is read and parsed all the same).
- baseline: the scorer's task body (`score_submission`, what a scorer runs per message:
  read, parse, score, interval, write, board update), entry after entry, on a sample of
  `--baseline` entries put back in `scoring`, half before and half after the rescore (the
  broker's own cost is left out, in its favour);
- metric: `rescore_start` and `rescore_advance` until the job is done, on every entry
  (chunks of 500: the answer key read once, the intervals drawn once per chunk, one
  write per chunk, the boards rebuilt once at the end), the broker left out likewise.
Both report entries per second; the rescored sample must equal the baseline's scores.

    python bench/rescore.py [--entries 10000] [--rows 10000] [--baseline 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT))

tmp = tempfile.mkdtemp(prefix="podium-bench-rescore-")
PG = os.environ.get("DATABASE_URL", "").startswith("postgres")
DB_NAME = f"podium_bench_rescore_{os.getpid()}"
if PG:
    base = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path="/" + DB_NAME))
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
os.environ["PODIUM_VAR_DIR"] = tmp
os.environ["PODIUM_MEDIA_ROOT"] = f"{tmp}/media"
os.environ.pop("CELERY_BROKER_URL", None)  # the filesystem broker under tmp: nothing consumes it
os.environ["PODIUM_DEBUG"] = "0"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

CLASSES = ["a", "b", "c"]
DISTINCT_FILES = 40
USERS = 2000


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql)


def fill(entries: int, rows: int):
    import hashlib
    from datetime import timedelta

    import numpy as np
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from podium.accounts.models import User
    from podium.competitions.models import Dataset, DatasetFile
    from podium.competitions.services import competition_create
    from podium.submissions.models import Submission

    rng = np.random.default_rng(0)
    ids = np.arange(1, rows + 1)
    y = rng.integers(0, 3, rows)
    labels = ("id,target\n" + "".join(f"{i},{CLASSES[c]}\n" for i, c in zip(ids, y, strict=True))).encode()
    test = ("id,x\n" + "".join(f"{i},{rng.random():.4f}\n" for i in ids)).encode()
    manifest = {
        "slug": "bench-data",
        "task_type": "classification",
        "id_column": "id",
        "target": "target",
        "classes": CLASSES,
        "features": ["x"],
        "input_shape": [1],
        "metric": "accuracy",
        "rows": {"train": 0, "test": rows},
        "files": {"test.csv": {}, "test_labels.csv": {"hidden": True}},
    }
    dataset = Dataset.objects.create(
        slug="bench-data", title="Bench", task_type="classification", source="upload", manifest=manifest
    )
    for name, data, hidden in (("test.csv", test, False), ("test_labels.csv", labels, True)):
        row = DatasetFile(dataset=dataset, name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        row.hidden = hidden
        row.file.save(name, ContentFile(data), save=False)
        row.save()
    now = timezone.now()
    competition = competition_create(
        dataset=dataset,
        slug="bench-cup",
        title="Bench cup",
        metric="accuracy",
        starts_at=now - timedelta(days=10),
        ends_at=now + timedelta(days=10),
    )
    names = []
    for k in range(DISTINCT_FILES):
        guess = np.where(rng.random(rows) < 0.4 + k / 100, y, rng.integers(0, 3, rows))
        body = (
            "id,target\n" + "".join(f"{i},{CLASSES[g]}\n" for i, g in zip(ids, guess, strict=True))
        ).encode()
        names.append(default_storage.save(f"submissions/bench/p{k}.csv", ContentFile(body)))
    User.objects.bulk_create(User(username=f"u{i}", password="!") for i in range(USERS))
    users = list(User.objects.values_list("pk", flat=True))
    Submission.objects.bulk_create(
        (
            Submission(
                competition=competition,
                user_id=users[i % len(users)],
                kind="predictions",
                status="scored",
                attempt=1,
                predictions=names[i % len(names)],
                public_score=0.0,
                private_score=0.0,
                finished_at=now,
            )
            for i in range(entries)
        ),
        batch_size=2000,
    )
    return competition


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000, help="entries scored one task each")
    args = parser.parse_args()
    if PG:
        _pg_admin(f'CREATE DATABASE "{DB_NAME}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        competition = fill(args.entries, args.rows)
        if PG:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"filled in {time.perf_counter() - started:.1f} s ({connection.vendor})")

        from podium.leaderboards.models import BoardEntry
        from podium.operations.models import RescoreJob
        from podium.operations.rescore import rescore_advance, rescore_start
        from podium.submissions.models import Submission
        from podium.submissions.tasks import score_submission

        fields = ("pk", "public_score", "private_score", "public_ci_low", "public_ci_high")

        def scores_of(pks):
            return {row[0]: row[1:] for row in Submission.objects.filter(pk__in=pks).values_list(*fields)}

        def normal_path(pks, attempt):
            """Each entry put back in `scoring` and scored by the task body, one after another."""
            Submission.objects.filter(pk__in=pks).update(status="scoring", attempt=attempt)
            started = time.perf_counter()
            for pk in pks:
                score_submission.run(pk, attempt)
            seconds = time.perf_counter() - started
            assert set(Submission.objects.filter(pk__in=pks).values_list("status", flat=True)) == {"scored"}
            return seconds

        sample = list(Submission.objects.order_by("pk").values_list("pk", flat=True)[: args.baseline + 1])
        normal_path(sample[:1], 2)  # warm: the answer key read and cached, the imports done
        # The baseline runs in two halves, before and after the rescore, so that a change of
        # the shared box's load during the run weighs on both sides alike.
        before, after = sample[1 : 1 + args.baseline // 2], sample[1 + args.baseline // 2 :]
        base_s = normal_path(before, 2)
        expected = scores_of(before)
        Submission.objects.filter(pk__in=before).update(public_score=0.0, private_score=0.0)

        started = time.perf_counter()
        job = rescore_start(competition=competition, actor=None, reason="bench")
        while job.state != RescoreJob.State.DONE:
            job = rescore_advance(job_id=job.pk)
        job_s = time.perf_counter() - started
        rate = job.done / job_s
        rescored = scores_of(sample[1:])
        base_s += normal_path(after, 3)
        expected.update(scores_of(after))
        base_rate = (len(before) + len(after)) / base_s
        worst = max(abs(a - b) for pk in sample[1:] for a, b in zip(expected[pk], rescored[pk], strict=True))
        assert worst < 1e-9, f"the rescore disagrees with the normal path by {worst}"
        rows = BoardEntry.objects.filter(competition=competition, rank_key__isnull=False).count()
        print(f"{'':34}{'entries':>9}{'seconds':>10}{'entries/s':>11}")
        print(f"{'one task each (normal path)':34}{len(sample) - 1:9d}{base_s:10.1f}{base_rate:11.1f}")
        print(f"{'rescore job (chunks of 500)':34}{job.done:9d}{job_s:10.1f}{rate:11.1f}")
        print(f"board rows after the rescore: {rows}; largest difference from the normal path: {worst:.1e}")
        print(f"bench: rescore metric={rate:.1f} baseline={base_rate:.1f} ratio={rate / base_rate:.2f}")
    finally:
        if PG:
            from django.db import connections

            connections.close_all()
            _pg_admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()

"""Measure the post's claims on the platform: `manage.py run_claims [--claim SLUG] [--seeds N]`.

For each claim of the registry (`podium.lab.claims`), every model arm × seed becomes a lab run
on the claim's built-in dataset, evaluated on its hidden test rows (a staff study), and goes to
the real trainers through the broker; the command waits for them with a progress line whenever
a count changes, runs the classical baselines here meanwhile, then stores the claim's result
(`ClaimResult`: scores, intervals, curves, verdict) with the date, `git rev-parse HEAD` and the
hardware. Running it again replaces the stored result. Needs a trainer consuming the training
queue and the web server its callbacks reach (`make run` starts both).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from podium.lab.claim_services import (
    STUDY_KEY_PREFIX,
    claim_datasets,
    claim_result_store,
    claim_study_start,
    classical_outcomes,
    run_outcome,
)
from podium.lab.claims import MIN_SEEDS, claim_list, load_studies

FINAL = ("done", "failed", "cancelled")


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def host_cpu() -> str:
    """This machine's processor and CPU count (the trainers' when they run here, as `make run`)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or 'unknown CPU'}, {os.cpu_count()} CPUs"


def trainers(runs) -> str:
    """Where the runs trained, from their reports: device, threads, torch."""
    seen = Counter()
    for run in runs:
        env = (run.report or {}).get("environment") or {}
        if env:
            seen[
                f"{env.get('device', '?')}, {env.get('threads', '?')} thread(s), torch {env.get('torch', '?')}"
            ] += 1
    return "; ".join(f"{label} ({n} runs)" for label, n in seen.most_common()) or "no run reported its device"


class Command(BaseCommand):
    help = "Run the claims' studies through the real workers and store their results (the /claims/ pages)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--claim", action="append", default=[], metavar="SLUG", help="a claim (repeatable); default: all"
        )
        parser.add_argument(
            "--seeds", type=int, default=None, help="seeds per arm (at least 3); default: the study's"
        )
        parser.add_argument(
            "--owner", default="", help="the staff account the runs belong to; default: the first superuser"
        )
        parser.add_argument(
            "--timeout", type=float, default=3600.0, help="seconds to wait for one claim's runs"
        )
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the runs")
        parser.add_argument(
            "--studies",
            type=Path,
            default=None,
            help="a folder of study files to run instead of the registry's (a study being written)",
        )

    def handle(self, *args, claim, seeds, owner, timeout, poll, studies, **options):
        if studies is not None:
            if not studies.is_dir():
                raise CommandError(f"--studies {str(studies)!r} is not a folder.")
            known = load_studies(studies)
        else:
            known = {c.slug: c for c in claim_list()}
        claims = [self._claim(slug, known) for slug in claim] if claim else list(known.values())
        if seeds is not None and seeds < MIN_SEEDS:
            raise CommandError(f"--seeds must be at least {MIN_SEEDS}: an interval over fewer says nothing.")
        user = self._owner(owner)
        commit = git_commit()
        for c in claims:
            self._run(c, user=user, seeds=seeds or c.seeds, commit=commit, timeout=timeout, poll=poll)

    def _claim(self, slug: str, known: dict):
        if slug not in known:
            raise CommandError(f"No claim {slug!r}; known: {', '.join(known)}.")
        return known[slug]

    def _owner(self, username: str):
        users = get_user_model().objects
        if username:
            user = users.filter(username=username).first()
            if user is None or not user.is_staff:
                raise CommandError(f"--owner {username!r} is not a staff account.")
            return user
        user = users.filter(is_superuser=True).order_by("pk").first()
        if user is None:
            raise CommandError("No superuser to own the runs: create one (createsuperuser) or pass --owner.")
        return user

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def _run(self, claim, *, user, seeds: int, commit: str, timeout: float, poll: float) -> None:
        from podium.lab.selectors import lab_runs

        started_at, start = timezone.now(), time.monotonic()
        study_key = f"{STUDY_KEY_PREFIX}:{claim.slug}:{started_at:%Y%m%dT%H%M%S}"
        train, pretrain = claim_datasets(claim)
        metric = train.manifest["metric"]
        runs = claim_study_start(claim=claim, owner=user, seeds=seeds, study_key=study_key)
        self._say(
            f"{claim.slug}: {len(runs)} runs sent ({len(claim.model_arms)} arms × {seeds} seeds) on "
            f"{claim.dataset}, {metric} on the test rows"
        )
        outcomes = classical_outcomes(claim, seeds, metric=metric)
        for arm in {o.arm for o in outcomes}:
            scores = ", ".join(f"{o.score:.4f}" for o in outcomes if o.arm == arm)
            self._say(f"  {arm} (scikit-learn, here): {scores}")

        ids = [r.pk for r in runs]
        last = None
        while True:
            now = list(lab_runs(ids=ids))
            counts = Counter(r.status for r in now)
            line = ", ".join(
                f"{counts[s]} {s}" for s in ("done", "running", "queued", "failed", "cancelled") if counts[s]
            )
            if line != last:
                self._say(f"  {claim.slug}: {line} · {time.monotonic() - start:.0f} s")
                last = line
            if all(r.status in FINAL for r in now):
                break
            if time.monotonic() - start > timeout:
                self._say(
                    f"  {claim.slug}: {len([r for r in now if r.status not in FINAL])} runs unfinished after {timeout:.0f} s; stored as failed"
                )
                break
            time.sleep(poll)

        for run in now:
            outcome = run_outcome(claim, run)
            if run.status not in FINAL:
                outcome.score, outcome.error = None, f"unfinished after {timeout:.0f} s ({run.status})"
            outcomes.append(outcome)
        hardware = f"trainer: {trainers(now)}; host: {host_cpu()}"
        result = claim_result_store(
            claim=claim,
            outcomes=outcomes,
            metric=metric,
            higher_is_better=_higher_is_better(metric),
            datasets=[{"slug": d.slug, "version": d.version} for d in (train, pretrain) if d is not None],
            seeds=seeds,
            measured_at=started_at,
            commit=commit,
            hardware=hardware,
            command=f"python manage.py run_claims --claim {claim.slug} --seeds {seeds}",
            seconds=time.monotonic() - start,
        )
        for arm in result.arms:
            mean = (
                "failed"
                if arm["mean"] is None
                else f"{arm['mean']:.4f} [{arm['low']:.4f}, {arm['high']:.4f}]"
            )
            self._say(f"  {arm['key']}: {mean}")
        verdict = {True: "reproduces", False: "does not reproduce at this scale", None: "undecided"}[
            result.reproduces
        ]
        self._say(
            f"{claim.slug}: {verdict}{': ' + result.why if result.why else ''} ({result.seconds:.0f} s)"
        )


def _higher_is_better(metric: str) -> bool:
    from datasets.metrics import get_metric

    return get_metric(metric).higher_is_better

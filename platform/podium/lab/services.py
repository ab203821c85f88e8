"""Writes of the lab (docs/architecture.md, "The lab"): runs created and sent, ablations started
and cancelled, the workers' callbacks, scoring, and the reaper.

Every worker callback is keyed by (run, attempt) and guarded by a conditional update or a
row lock, as an entry's are: a repeated delivery or a late worker of a superseded attempt
changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common.problems import Problem, echo
from common.protocol import Budget
from podium.competitions.selectors import next_daily_reset, submission_phase
from podium.errors import ApplicationError, Conflict, LimitReached, NotAllowed, NotFound
from podium.lab import dispatch
from podium.lab.models import (
    BASELINE_KEY,
    RUN_ACTIVE,
    Ablation,
    Evaluate,
    LabRun,
    RunStatus,
)
from podium.lab.selectors import ablatable_entry, kept_sweep_variant, lab_quota_used, run_config_check
from podium.submissions.attempts import Attempts
from podium.submissions.services import clean_message
from podium.submissions.validation import config_budget

log = logging.getLogger(__name__)

# The share of the training file an ablation holds out to score on.
HOLDOUT_FRACTION = 0.2
# An ablation's variants at most (the baseline besides): more than any entry derives.
MAX_ABLATION_VARIANTS = 64


# --- runs -----------------------------------------------------------------------


def _parameters(config, manifest: dict) -> int:
    from workers.spec import count_parameters, n_outputs_for

    return count_parameters(
        config,
        manifest["input_shape"],
        n_outputs_for(manifest),
        with_adapters=bool(config.finetune),
        inputs=manifest.get("inputs"),
    )


@transaction.atomic
def lab_runs_create(
    *,
    owner,
    dataset,
    configs: list[tuple[str, str, str, dict]],
    evaluate: str,
    seed: int,
    budget: Budget,
    metric: str | None = None,
    holdout_fraction: float | None = HOLDOUT_FRACTION,
    pretrain_datasets=(),
    ablation: Ablation | None = None,
    study_key: str = "",
) -> list[LabRun]:
    """Create one run per `(key, change, technique, config)` on `dataset` and send each to the
    training queue once committed. `evaluate`: `holdout` (a seeded `holdout_fraction` of the
    training file; the only mode a participant's ablation gets) or `test` (the dataset's hidden
    test rows: staff studies through this call only, never the API). Every config is checked
    against the dataset and the budget first; a refusal names the run's key and stores nothing."""
    from datasets.metrics import get_metric

    if evaluate not in Evaluate.values:
        raise ApplicationError(f"evaluate must be holdout or test, not {echo(evaluate)}.")
    if evaluate == Evaluate.HOLDOUT:
        from datasets.holdout import MAX_FRACTION, MIN_FRACTION

        if holdout_fraction is None or not MIN_FRACTION <= holdout_fraction <= MAX_FRACTION:
            raise ApplicationError(
                f"holdout_fraction must be from {MIN_FRACTION} to {MAX_FRACTION}, not {echo(holdout_fraction)}."
            )
    else:
        holdout_fraction = None
    metric = metric or ("accuracy" if dataset.task_type == "classification" else "rmse")
    try:
        metric_task = get_metric(metric).task_type
    except ValueError as exc:
        raise ApplicationError(f"{str(exc).capitalize()}.") from None
    if metric_task != dataset.task_type:
        raise ApplicationError(f"Metric {metric!r} is not for a {dataset.task_type} dataset.")
    if not configs:
        raise ApplicationError("No lab run to create: the list of configs is empty.")
    keys = [key for key, *_ in configs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ApplicationError(f"Each run needs its own key; {', '.join(map(repr, repeated))} repeats.")

    pretrain = list(pretrain_datasets)
    problems: list[Problem] = []
    checked = []
    for key, change, technique, raw in configs:
        config, found = run_config_check(raw, dataset=dataset, budget=budget, pretrain_datasets=pretrain)
        if found:
            problems.extend(Problem(f"{key}: {p.message}", path=p.path) for p in found)
            continue
        checked.append((key, change, technique, config))
    if problems:
        raise ApplicationError(
            f"{len(problems)} problem(s) with the runs' configs; nothing was stored.", problems=problems
        )

    now = timezone.now()
    runs = []
    for key, change, technique, config in checked:
        run = LabRun.objects.create(
            ablation=ablation,
            owner=owner,
            study_key=study_key,
            key=key,
            technique=technique,
            change=change,
            config=config.model_dump(mode="json"),
            dataset=dataset,
            metric=metric,
            evaluate=evaluate,
            holdout_fraction=holdout_fraction,
            seed=seed,
            budget=budget.as_dict(),
            queued_at=now,
            parameters=_parameters(config, dataset.manifest),
        )
        if pretrain:
            run.pretrain_datasets.set(pretrain)
        _send_on_commit(run)
        runs.append(run)
    return runs


def _send_on_commit(run: LabRun) -> None:
    run_id, attempt = run.pk, run.attempt
    # robust: a broker outage must not undo the rows; the reaper re-sends a run nobody claimed.
    transaction.on_commit(lambda: dispatch.send_lab_run(run_id, attempt), robust=True)


# --- ablations ------------------------------------------------------------------


class LabQuotaReached(LimitReached):
    """The day's ablation compute is used up; the answer says how much and when it resets."""

    def __init__(self, *, quota: int, used: int, needed: int, resets_at: datetime):
        detail = (
            f"Daily ablation quota reached: {used} of {quota} model-epochs used today (UTC); this "
            f"ablation needs {needed}. It resets at {resets_at:%Y-%m-%d %H:%M} UTC."
        )
        super().__init__(
            detail,
            code="lab_quota",
            extra={
                "quota": quota,
                "used": used,
                "needed": needed,
                "resets_at": resets_at.isoformat().replace("+00:00", "Z"),
            },
            retry_after=max(1, int((resets_at - timezone.now()).total_seconds())),
        )


@transaction.atomic
def ablation_create(*, user, submission_id: int, keys: list[str], now: datetime | None = None) -> Ablation:
    """Start an ablation of the caller's scored model entry: a baseline run (its config, retrained
    the same way; a sweep's kept model) and a run per chosen variant (`workers.ablations`), all
    held out on the same seeded rows of the training file. Refused, with nothing stored: unknown,
    repeated or no keys (400, each at `variants[i]`), ablations off in the competition (403), the
    day's quota (429)."""
    from workers.ablations import ablation_base, variants_by_keys
    from workers.spec import ConfigError

    now = now or timezone.now()
    submission = ablatable_entry(user=user, submission_id=submission_id)
    phase = submission_phase(submission)
    if len(keys) > MAX_ABLATION_VARIANTS:
        raise ApplicationError(
            f"An ablation trains at most {MAX_ABLATION_VARIANTS} variants; {len(keys)} were chosen.",
            code="variants",
        )
    sweep_variant = kept_sweep_variant(submission)
    try:
        chosen = variants_by_keys(
            submission.config, keys, manifest=phase.dataset.manifest, sweep_variant=sweep_variant
        )
    except ConfigError as exc:
        raise ApplicationError.from_problems(
            f"The ablation's variants have {len(exc.problems)} problem(s); nothing was stored.",
            exc,
            code="variants",
        ) from None
    quota = phase.lab_daily_epochs
    if quota == 0:
        raise NotAllowed("Ablations are off in this competition (its daily lab quota is 0).")
    budget = config_budget(phase)
    needed = (len(keys) + 1) * budget.epochs
    # One participant's ablations are counted one at a time: two at once cannot both fit.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    used = lab_quota_used(user=user, competition=submission.competition, now=now)
    if used + needed > quota:
        raise LabQuotaReached(quota=quota, used=used, needed=needed, resets_at=next_daily_reset(now=now))

    competition = submission.competition
    ablation = Ablation.objects.create(
        owner=user,
        submission=submission,
        competition=competition,
        holdout_fraction=HOLDOUT_FRACTION,
        holdout_seed=competition.split_seed,
        model_epochs=needed,
    )
    baseline = ablation_base(submission.config, sweep_variant=sweep_variant)
    configs = [(BASELINE_KEY, "The entry's own config, retrained on the same rows", "", baseline)]
    configs += [(v.key, v.change, v.technique, v.config) for v in chosen]
    try:
        lab_runs_create(
            owner=user,
            dataset=phase.dataset,
            configs=configs,
            evaluate=Evaluate.HOLDOUT,
            seed=ablation.holdout_seed,
            budget=budget,
            metric=competition.metric,
            holdout_fraction=ablation.holdout_fraction,
            pretrain_datasets=competition.pretrain_datasets.all(),
            ablation=ablation,
        )
    except ApplicationError as exc:
        exc.detail = f"The ablation's runs cannot train in this competition: {exc.detail}"
        raise
    return ablation


@transaction.atomic
def ablation_cancel(*, user, ablation_id: int) -> Ablation:
    """Stop the ablation's runs (queued ones never train; running ones stop at their next
    heartbeat); its owner only. Cancelling again changes nothing. The quota is not refunded."""
    ablation = Ablation.objects.select_for_update().filter(pk=ablation_id, owner_id=user.pk).first()
    if ablation is None:
        raise NotFound("No such ablation of yours.")
    now = timezone.now()
    if ablation.cancelled_at is None:
        ablation.cancelled_at = now
        ablation.save(update_fields=["cancelled_at"])
    ablation.runs.filter(status__in=RUN_ACTIVE).update(status=RunStatus.CANCELLED, finished_at=now)
    return ablation


# --- worker callbacks --------------------------------------------------------------


ATTEMPTS = Attempts(
    model=LabRun,
    noun="Lab run",
    queued=RunStatus.QUEUED,
    running=RunStatus.RUNNING,
    failed=RunStatus.FAILED,
    cancelled=RunStatus.CANCELLED,
    active=tuple(RUN_ACTIVE),
)


def _conflict(run_id: int, attempt: int) -> Conflict:
    return ATTEMPTS.conflict(run_id, attempt)


def lab_run_claim(*, run_id: int, attempt: int) -> LabRun:
    ATTEMPTS.claim(run_id, attempt)
    return LabRun.objects.select_related("dataset").get(pk=run_id)


def lab_run_heartbeat(*, run_id: int, attempt: int) -> None:
    ATTEMPTS.heartbeat(run_id, attempt)


@transaction.atomic
def lab_run_record_epochs(*, run_id: int, attempt: int, records: list[dict]) -> int:
    """Store epoch records (`{"epoch", "variant", "data"}`, as the entry's callback parses them)
    as one heartbeat; a repeat keeps the first. A sweep's or an ensemble's models are kept apart
    by their variant (the key `"<variant>:<epoch>"` past the first model). Returns how many were new."""
    run = LabRun.objects.select_for_update().filter(pk=run_id).first()
    stored = dict(run.epochs) if run is not None else {}
    keyed = [(_epoch_key(r["variant"], r["epoch"]), r["data"]) for r in records]
    if run is None or run.status != RunStatus.RUNNING or run.attempt != attempt:
        if run is not None and run.attempt == attempt and all(k in stored for k, _ in keyed):
            return 0
        raise _conflict(run_id, attempt)
    new = 0
    for key, data in keyed:
        if key not in stored:
            stored[key] = data
            new += 1
    run.epochs = stored
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["epochs", "heartbeat_at"])
    return new


def _epoch_key(variant: int, epoch: int) -> str:
    return str(epoch) if not variant else f"{variant}:{epoch}"


def lab_run_store_predictions(*, run_id: int, attempt: int, file, report: dict | None = None) -> LabRun:
    """The worker's predictions of the run's evaluation rows: validated against those rows,
    scored (with its interval), stored, and paired with the ablation's baseline once both are
    done. A repeat of a done attempt is a no-op; invalid predictions fail the run (400)."""
    from datasets.predictions import PredictionError
    from podium.lab.scoring import EvaluationUnavailable, parse_run_predictions, run_score

    current = LabRun.objects.select_related("dataset").get(pk=run_id)
    if current.attempt == attempt and current.status == RunStatus.DONE:
        return current
    if current.attempt != attempt or current.status != RunStatus.RUNNING:
        raise _conflict(run_id, attempt)
    file.seek(0)
    body = file.read()
    try:
        predictions = parse_run_predictions(current, body)
    except EvaluationUnavailable as exc:
        lab_run_fail(run_id=run_id, attempt=attempt, message=exc.detail)
        raise
    except PredictionError as exc:
        summary = "; ".join(p.as_dict().get("message", "") for p in exc.problems[:3])
        lab_run_fail(
            run_id=run_id,
            attempt=attempt,
            message=f"The trained model's predictions were not valid: {summary}",
        )
        raise ApplicationError.from_problems(
            f"The predictions have {exc.total or len(exc.problems)} problem(s); the run failed.", exc
        ) from None
    scored = run_score(current, predictions)

    storage = LabRun._meta.get_field("predictions").storage
    stored_name = None
    try:
        with transaction.atomic():
            if current.ablation_id is not None:
                # One of an ablation's runs finishes at a time: the baseline and a variant ending
                # together each see the other done, and their difference is computed once.
                Ablation.objects.select_for_update().filter(pk=current.ablation_id).first()
            locked = LabRun.objects.select_for_update().select_related("dataset").get(pk=run_id)
            if locked.attempt == attempt and locked.status == RunStatus.DONE:
                return locked
            if locked.attempt != attempt or locked.status != RunStatus.RUNNING:
                raise _conflict(run_id, attempt)
            locked.predictions.save(f"run-{run_id}-{uuid.uuid4().hex}.csv", ContentFile(body), save=False)
            stored_name = locked.predictions.name
            locked.status = RunStatus.DONE
            locked.finished_at = timezone.now()
            locked.score, locked.score_low, locked.score_high = scored.score, scored.low, scored.high
            locked.seconds = _training_seconds(locked.epochs)
            fields = ["predictions", "status", "finished_at", "score", "score_low", "score_high", "seconds"]
            if report is not None:
                locked.report = report
                fields.append("report")
            locked.save(update_fields=fields)
            if locked.ablation_id is not None:
                _pair_with_baseline(locked, predictions)
            return locked
    except BaseException:
        if stored_name:
            storage.delete(stored_name)
        raise


def _training_seconds(epochs: dict) -> float | None:
    seconds = [d.get("seconds") for d in epochs.values() if isinstance(d.get("seconds"), (int, float))]
    return float(sum(seconds)) if seconds else None


def _pair_with_baseline(run: LabRun, predictions) -> None:
    """Once the baseline and a variant are both done, the variant's paired difference."""
    from podium.lab.scoring import paired_difference

    done = {
        r.key: r
        for r in LabRun.objects.select_related("dataset").filter(
            ablation_id=run.ablation_id, status=RunStatus.DONE
        )
    }
    baseline = done.get(BASELINE_KEY)
    if baseline is None:
        return
    if run.key == BASELINE_KEY:
        others = [r for key, r in done.items() if key != BASELINE_KEY]
        for other in others:
            _store_difference(other, paired_difference(baseline, other, baseline_predictions=predictions))
    else:
        _store_difference(run, paired_difference(baseline, run, other_predictions=predictions))


def _store_difference(run: LabRun, difference: tuple) -> None:
    diff, low, high = difference
    beyond = None if low is None or high is None else (low > 0 or high < 0)
    LabRun.objects.filter(pk=run.pk).update(diff=diff, diff_low=low, diff_high=high, beyond_noise=beyond)


@transaction.atomic
def lab_run_fail(*, run_id: int, attempt: int, message: str, report: dict | None = None) -> LabRun:
    """Fail the current attempt with a readable reason; a repeat is a no-op."""
    extra = {"report": report} if report is not None else {}
    ATTEMPTS.fail(run_id, attempt, error_message=clean_message(message), **extra)
    return LabRun.objects.get(pk=run_id)


# --- the reaper -----------------------------------------------------------------------


def lab_runs_reap_stale(*, now: datetime | None = None) -> dict[str, int]:
    """No lab run stays queued or running forever: a silent worker's run, or one sent and not
    claimed for PODIUM_QUEUED_TIMEOUT (a lost message), gets a new attempt and token, up to
    PODIUM_MAX_ATTEMPTS; then it fails with a reason people can read."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0}
    stale = LabRun.objects.filter(
        Q(status=RunStatus.RUNNING, heartbeat_at__lt=now - settings.PODIUM_HEARTBEAT_TIMEOUT)
        | Q(status=RunStatus.QUEUED, queued_at__lt=now - settings.PODIUM_QUEUED_TIMEOUT)
    ).values_list("pk", flat=True)
    for run_id in list(stale):
        outcome = _reap_one(run_id=run_id, now=now)
        if outcome:
            counts[outcome] += 1
    if any(counts.values()):
        log.info("lab reaper: %s", counts)
    return counts


@transaction.atomic
def _reap_one(*, run_id: int, now: datetime) -> str | None:
    run = LabRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        return None
    if (
        run.status == RunStatus.RUNNING
        and run.heartbeat_at
        and run.heartbeat_at < now - settings.PODIUM_HEARTBEAT_TIMEOUT
    ):
        reason = f"The training worker stopped responding {run.attempt} times; giving up."
    elif (
        run.status == RunStatus.QUEUED
        and run.queued_at
        and run.queued_at < now - settings.PODIUM_QUEUED_TIMEOUT
    ):
        reason = f"No training worker picked the run up after {run.attempt} tries; giving up."
    else:
        return None
    if run.attempt >= settings.PODIUM_MAX_ATTEMPTS:
        run.status = RunStatus.FAILED
        run.error_message = reason
        run.finished_at = now
        run.save(update_fields=["status", "error_message", "finished_at"])
        return "failed"
    run.attempt += 1
    run.status = RunStatus.QUEUED
    run.queued_at = now
    run.started_at = None
    run.heartbeat_at = None
    run.epochs = {}
    run.save(update_fields=["attempt", "status", "queued_at", "started_at", "heartbeat_at", "epochs"])
    _send_on_commit(run)
    return "requeued"

"""Reads of the lab, each filtered by who asks (docs/architecture.md, "The lab").

An ablation is seen by its owner, and by staff (support: an ablation that fails or
hangs is looked at from the admin and the API); nobody else, hosts included, learns that it
exists (404). A study's runs are read by their study key (staff studies only).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from common.problems import Problem
from common.protocol import Budget
from podium.competitions.selectors import next_daily_reset, submission_phase
from podium.errors import ApplicationError, NotFound
from podium.lab.models import BASELINE_KEY, Ablation, LabRun, RunStatus
from podium.submissions.models import Kind, Status, Submission
from podium.submissions.validation import config_budget


def _is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def ablations_visible_to(*, user) -> QuerySet[Ablation]:
    if not (user and user.is_authenticated):
        return Ablation.objects.none()
    qs = Ablation.objects.all()
    return qs if _is_staff(user) else qs.filter(owner=user)


def _with_runs(qs: QuerySet[Ablation]) -> QuerySet[Ablation]:
    return qs.select_related("owner", "submission").prefetch_related(
        Prefetch("runs", queryset=LabRun.objects.order_by("id"))
    )


def ablation_list(*, submission_id: int, user) -> list[Ablation]:
    """The caller's ablations of that entry (newest first), with their runs: a fixed number of queries."""
    return list(_with_runs(ablations_visible_to(user=user).filter(submission_id=submission_id)))


def ablation_get(*, ablation_id: int, user) -> Ablation:
    ablation = _with_runs(ablations_visible_to(user=user)).filter(pk=ablation_id).first()
    if ablation is None:
        raise Http404("No such ablation.")
    return ablation


def ablation_status(ablation: Ablation) -> str:
    """cancelled; queued (no run started yet); running (a run queued or training); done (nothing
    left to train and the baseline done: the table stands, a failed variant shows its reason);
    failed (the baseline failed: nothing to compare with)."""
    if ablation.cancelled_at is not None:
        return "cancelled"
    runs = list(ablation.runs.all())
    statuses = {r.status for r in runs}
    if statuses == {RunStatus.QUEUED}:
        return "queued"
    if statuses & {RunStatus.QUEUED, RunStatus.RUNNING}:
        return "running"
    baseline = next((r for r in runs if r.key == BASELINE_KEY), None)
    return "done" if baseline is not None and baseline.status == RunStatus.DONE else "failed"


def ablation_rows(ablation: Ablation) -> list[LabRun]:
    """The table's rows: the baseline first, then the variants in the order they were chosen."""
    runs = list(ablation.runs.all())
    return sorted(runs, key=lambda r: (r.key != BASELINE_KEY, r.pk))


def run_curves(run: LabRun) -> dict:
    """A run's curves by epoch (its first model's, for a sweep or an ensemble): losses, the
    validation metric, and each layer's gradient norm."""
    epochs = sorted((int(k), v) for k, v in (run.epochs or {}).items() if ":" not in k)
    layers: dict[str, list] = {}
    for _, data in epochs:
        for layer in (data.get("grad_norms") or {}).keys():
            layers.setdefault(layer, [])
    for _, data in epochs:
        norms = data.get("grad_norms") or {}
        for layer, values in layers.items():
            values.append(norms.get(layer))
    return {
        "epochs": [e for e, _ in epochs],
        "train_loss": [d.get("train_loss") for _, d in epochs],
        "val_loss": [d.get("val_loss") for _, d in epochs],
        "val_metric": [(d.get("val_metric") or {}).get("value") for _, d in epochs],
        "grad_norms": layers,
    }


def ablation_options(*, user, submission_id: int) -> dict:
    """What the owner may choose for an ablation of their scored model entry, and the quota left today."""
    from workers.ablations import ablation_variants

    submission = ablatable_entry(user=user, submission_id=submission_id)
    phase = submission_phase(submission)
    variants = ablation_variants(
        submission.config, manifest=phase.dataset.manifest, sweep_variant=kept_sweep_variant(submission)
    )
    budget = config_budget(phase)
    pretrain = list(submission.competition.pretrain_datasets.all())
    options = []
    for variant in variants:
        _, problems = run_config_check(
            variant.config, dataset=phase.dataset, budget=budget, pretrain_datasets=pretrain
        )
        options.append(
            {
                "key": variant.key,
                "technique": variant.technique,
                "change": variant.change,
                # A variant over the budget (more parameters, more epochs) is listed, not offered.
                "fits": not problems,
                "problem": problems[0].message if problems else None,
            }
        )
    used = lab_quota_used(user=user, competition=submission.competition)
    return {
        "variants": options,
        "quota": {
            "daily": phase.lab_daily_epochs,
            "used": used,
            "remaining": max(0, phase.lab_daily_epochs - used),
            "epochs_per_run": budget.epochs,
            "resets_at": next_daily_reset(),
        },
    }


def lab_runs(*, study_key: str | None = None, ids=None) -> QuerySet[LabRun]:
    """Runs by study key or ids, for the platform's own studies (staff code, not the API)."""
    qs = LabRun.objects.select_related("dataset").order_by("id")
    if study_key is not None:
        qs = qs.filter(study_key=study_key)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs


# --- rules the services ask too ---------------------------------------------


def run_config_check(
    raw: dict, *, dataset, budget: Budget, pretrain_datasets=()
) -> tuple[object, list[Problem]]:
    """A run's config parsed and checked against the dataset, the budget and the pre-training
    datasets it may use, as the intake checks an entry's: (the config, []) or (None, problems)."""
    from workers.spec import ConfigError, load_config, validate_for_dataset

    try:
        config = load_config(raw)
    except ConfigError as exc:
        return None, list(exc.problems)
    allowed = {d.slug: d.manifest for d in pretrain_datasets}
    found = validate_for_dataset(config, dataset.manifest, budget=budget, allowed_pretrain=allowed)
    return (None, list(found)) if found else (config, [])


def lab_quota_used(*, user, competition, now: datetime | None = None) -> int:
    """The model-epochs the participant's ablations in this competition used today (UTC)."""
    reset = next_daily_reset(now=now)
    day_start = reset - timezone.timedelta(days=1)
    used = Ablation.objects.filter(
        owner=user, competition=competition, created_at__gte=day_start, created_at__lt=reset
    ).aggregate(total=Sum("model_epochs"))["total"]
    return int(used or 0)


def is_ablatable(submission: Submission) -> bool:
    """Whether an entry can be ablated: a model entry that was scored (the entry page asks too)."""
    return submission.kind == Kind.CONFIG and submission.status == Status.SCORED


def ablatable_entry(*, user, submission_id: int) -> Submission:
    """The caller's own scored model entry (404 for anyone else's, 400 for another kind or state)."""
    submission = (
        Submission.objects.select_related("competition__dataset")
        .filter(pk=submission_id, user_id=getattr(user, "pk", None))
        .first()
    )
    if submission is None:
        raise NotFound("No such submission of yours.")
    if not is_ablatable(submission):
        raise ApplicationError(
            f"Only a scored model entry can be ablated; entry #{submission.pk} is a "
            f"{submission.get_kind_display().lower()} that is {submission.status}.",
            code="not_ablatable",
        )
    return submission


def kept_sweep_variant(submission: Submission) -> int | None:
    """The model of a sweep entry its run kept (`RunReport.variants.kept`): the one an ablation
    starts from; None for an entry of one model (or an ensemble, ablated at its first seed)."""
    variants = (submission.training_report or {}).get("variants") or {}
    kept = variants.get("kept") if variants.get("kind") == "sweep" else None
    return kept if isinstance(kept, int) else None

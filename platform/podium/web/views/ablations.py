"""Ablations on the site: the Ablate page of a scored model entry (the variants its config
allows, grouped by technique, and the quota left), an ablation's page (status while its runs
train, the table against the original, the curves side by side) and cancelling one. Who may
do and see what is the lab's rule (podium.lab.selectors, services): the entry's owner starts
an ablation, its owner (and staff, for support) sees it, anyone else gets a 404."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from datasets.metrics import get_metric
from podium.errors import ApplicationError, NotFound, page_message
from podium.lab.models import BASELINE_KEY, RUN_ACTIVE, RunStatus
from podium.lab.selectors import ablation_get, ablation_options, ablation_rows, ablation_status, run_curves
from podium.lab.services import ablation_cancel, ablation_create
from podium.submissions.selectors import submission_get
from podium.web import charts
from podium.web.views.common import competition_context

# What each family of techniques is called on the page (workers.ablations' `technique`).
TECHNIQUE_TITLES = {
    "activation": "Activation function",
    "batchnorm": "BatchNorm",
    "residual": "Residual connections",
    "init": "Initialisation",
    "optimizer": "Optimiser",
    "dropout": "Dropout",
    "scheduler": "Learning-rate schedule",
    "separable": "Separable convolutions",
    "finetune": "Pre-training and fine-tuning",
    "augment": "Augmentation",
}


def _technique_groups(variants) -> list[dict]:
    """The variants (`ablation_options`' dicts) grouped by technique, in the order the derivation lists them."""
    groups: dict[str, dict] = {}
    for v in variants:
        technique = v["technique"]
        title = TECHNIQUE_TITLES.get(technique, technique)
        groups.setdefault(technique, {"technique": technique, "title": title, "variants": []})
        groups[technique]["variants"].append(v)
    return list(groups.values())


def _own_entry(request, submission_id):
    """The caller's own entry, else 404: as the lab's selectors answer anyone else, staff included."""
    submission = submission_get(submission_id=submission_id, user=request.user)
    if submission.user_id != request.user.pk:
        raise Http404("No such submission of yours.")
    return submission


@login_required
def ablation_new(request, submission_id):
    """GET: the variants to pick from and the quota; POST: start an ablation of the ones ticked."""
    submission = _own_entry(request, submission_id)
    ctx = competition_context(request, submission.competition.slug, "mine")
    ctx.update(submission=submission, groups=[], quota=None, chosen=[])
    # A refusal re-renders the page (200) with the reason, as the Submit page does; the API is
    # where the 4xx status codes are the contract.
    try:
        options = ablation_options(user=request.user, submission_id=submission.pk)
    except ApplicationError as exc:  # not a scored model entry: said, with the way back
        page_message(request, exc)
        return render(request, "web/ablation/new.html", ctx)
    quota = options["quota"]
    # What the quota left pays for: the original's retraining, then one run per variant.
    affordable = quota["remaining"] // quota["epochs_per_run"] - 1 if quota["epochs_per_run"] else 0
    ctx.update(groups=_technique_groups(options["variants"]), quota=quota, affordable=max(affordable, 0))
    if request.method != "POST":
        return render(request, "web/ablation/new.html", ctx)
    chosen = request.POST.getlist("variants")
    try:
        ablation = ablation_create(user=request.user, submission_id=submission.pk, keys=chosen)
    except ApplicationError as exc:
        page_message(request, exc)
        ctx["chosen"] = chosen  # the ticks stay, so one untick fixes it
        return render(request, "web/ablation/new.html", ctx)
    messages.success(
        request,
        f"Ablation #{ablation.pk} started: {len(chosen)} variant{'s' if len(chosen) != 1 else ''} "
        "and the original, retrained.",
    )
    return redirect("web:ablation", ablation_id=ablation.pk)


@dataclass(frozen=True)
class Progress:
    """Where an ablation's runs stand, for its status card."""

    status: str
    total: int
    done: int
    running: int
    queued: int
    failed: int
    epochs: int  # epochs reported so far, over every run
    key: str  # changes whenever a run changes state: the page reloads then


def _progress(ablation, rows) -> Progress:
    count = {s: sum(r.status == s for r in rows) for s in RunStatus.values}
    return Progress(
        status=ablation_status(ablation),
        total=len(rows),
        done=count[RunStatus.DONE],
        running=count[RunStatus.RUNNING],
        queued=count[RunStatus.QUEUED],
        failed=count[RunStatus.FAILED],
        epochs=sum(len(r.epochs or {}) for r in rows),
        key=".".join(f"{r.status[0]}{r.attempt}" for r in rows),
    )


def _ablation_context(request, ablation_id) -> dict:
    ablation = ablation_get(ablation_id=ablation_id, user=request.user)
    rows = ablation_rows(ablation)
    return {
        "ablation": ablation,
        "rows": rows,
        "progress": _progress(ablation, rows),
        "running": any(r.status in RUN_ACTIVE for r in rows),
    }


@login_required
def ablation_detail(request, ablation_id):
    ctx = _ablation_context(request, ablation_id)
    ablation, rows = ctx["ablation"], ctx["rows"]
    ctx.update(competition_context(request, ablation.submission.competition.slug, "mine"))
    metric = get_metric(rows[0].metric) if rows else None
    ctx.update(
        # A Metric is callable, and a template calls what it can: its title and direction, then.
        metric_title=metric.title if metric else "The score",
        higher_is_better=metric.higher_is_better if metric else True,
        is_owner=ablation.owner_id == request.user.pk,
        holdout_percent=round(ablation.holdout_fraction * 100),
        # The difference is a variant's score minus the original's: better is up or down by metric.
        better={
            r.pk: (r.diff > 0) == metric.higher_is_better
            for r in rows
            if r.diff is not None and metric is not None
        },
        charts=charts.ablation_charts({r.key: run_curves(r) for r in rows}, baseline=BASELINE_KEY),
        baseline_key=BASELINE_KEY,
    )
    return render(request, "web/ablation/detail.html", ctx)


@login_required
def ablation_status_card(request, ablation_id):
    """htmx: the status card, polled while runs train; the page reloads when a run moves on
    (queued, running, done), so that the table and the curves follow."""
    ctx = _ablation_context(request, ablation_id)
    response = render(request, "web/partials/ablation_status.html", ctx)
    if request.GET.get("seen") != ctx["progress"].key:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def ablation_stop(request, ablation_id):
    try:
        ablation_cancel(user=request.user, ablation_id=ablation_id)
    except NotFound:
        raise Http404("No such ablation of yours.") from None
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, f"Ablation #{ablation_id} cancelled: its runs stop.")
    return redirect("web:ablation", ablation_id=ablation_id)

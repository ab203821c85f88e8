"""Ablations on the site: the Ablate page of a scored model entry (the variants its config
allows, grouped by technique, and the quota left), an ablation's page (status while its runs
train, the table against the original, the curves side by side) and cancelling one. Who may
see what is the lab's selectors' rule: the entry's owner starts, the ablation's owner sees."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from podium.errors import ApplicationError, page_message
from podium.lab.selectors import ablation_get, ablation_options, ablation_table
from podium.lab.services import ablation_cancel, ablation_create
from podium.web import charts
from podium.web.views.common import competition_context

# What each family of techniques is called on the page (workers.ablations' `technique`).
TECHNIQUE_TITLES = {
    "activation": "Activation functions",
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
    """The variants grouped by technique, in the order the derivation lists them."""
    groups: dict[str, dict] = {}
    for v in variants:
        group = groups.setdefault(
            v.technique,
            {
                "technique": v.technique,
                "title": TECHNIQUE_TITLES.get(v.technique, v.technique),
                "variants": [],
            },
        )
        group["variants"].append(v)
    return list(groups.values())


@login_required
def ablation_new(request, submission_id):
    """GET: the variants to pick from; POST: start an ablation of the ones ticked."""
    options = ablation_options(submission_id=submission_id, user=request.user)
    submission = options.submission
    chosen: list[str] = []
    status = 200
    if request.method == "POST":
        chosen = request.POST.getlist("variants")
        try:
            ablation = ablation_create(submission=submission, user=request.user, keys=chosen)
        except ApplicationError as exc:
            page_message(request, exc)
            status = exc.status_code
        else:
            messages.success(
                request,
                f"Ablation #{ablation.pk} started: {len(chosen)} variant(s) and the original, retrained.",
            )
            return redirect("web:ablation", ablation_id=ablation.pk)
    ctx = competition_context(request, submission.competition.slug, "mine")
    ctx.update(
        submission=submission,
        groups=_technique_groups(options.variants),
        quota=options.quota,
        chosen=chosen,
    )
    return render(request, "web/ablation/new.html", ctx, status=status)


def _ablation_context(request, ablation_id) -> dict:
    ablation = ablation_get(ablation_id=ablation_id, user=request.user)
    table = ablation_table(ablation=ablation)
    return {"ablation": ablation, "table": table, "running": not ablation.is_final}


@login_required
def ablation_detail(request, ablation_id):
    ctx = _ablation_context(request, ablation_id)
    ablation = ctx["ablation"]
    ctx.update(competition_context(request, ablation.submission.competition.slug, "mine"))
    ctx["charts"] = charts.ablation_charts(ctx["table"].curves)
    return render(request, "web/ablation/detail.html", ctx)


@login_required
def ablation_status(request, ablation_id):
    """htmx: the status card, polled while runs train; the page reloads when a run moves on,
    so that the table and the curves follow."""
    ctx = _ablation_context(request, ablation_id)
    response = render(request, "web/partials/ablation_status.html", ctx)
    if request.GET.get("seen") != ctx["table"].progress_key:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def ablation_stop(request, ablation_id):
    ablation = ablation_get(ablation_id=ablation_id, user=request.user)
    try:
        ablation_cancel(ablation=ablation, user=request.user)
    except ApplicationError as exc:
        page_message(request, exc)
    else:
        messages.success(request, f"Ablation #{ablation.pk} cancelled: its runs stop.")
    return redirect("web:ablation", ablation_id=ablation.pk)

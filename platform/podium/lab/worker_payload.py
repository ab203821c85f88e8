"""What a worker claiming a lab run receives: an entry's order (`submissions.worker_payload.
work_order`, the same shape and the same rule: no hidden labels) and where to evaluate."""

from __future__ import annotations

from django.urls import reverse

from common.protocol import Budget, LabClaimOrder
from podium.submissions.worker_payload import work_order


def lab_datasets(run) -> list:
    """The run's dataset first, then the pre-training datasets it may use."""
    return [run.dataset, *run.pretrain_datasets.all()]


def lab_claim_payload(*, run, request) -> LabClaimOrder:
    def callback(name: str) -> str:
        return reverse(f"lab:worker-{name}", kwargs={"run_id": run.pk})

    def file_path(dataset_slug: str, name: str) -> str:
        return reverse(
            "lab:worker-file", kwargs={"run_id": run.pk, "dataset_slug": dataset_slug, "name": name}
        )

    ablation = run.ablation
    order = work_order(
        submission_id=ablation.submission_id if ablation is not None else None,
        attempt=run.attempt,
        kind="config",
        config=run.config,
        config_text="",
        competition={
            "slug": ablation.competition.slug if ablation else "",
            "task_type": run.dataset.task_type,
        },
        metric_name=run.metric,
        datasets=lab_datasets(run),
        budget=Budget.from_dict(run.budget),
        request=request,
        callback=callback,
        file_path=file_path,
    )
    return {
        **order,
        "lab_run_id": run.pk,
        "evaluate": {
            "on": run.evaluate,
            "fraction": run.holdout_fraction,
            "seed": run.seed if run.evaluate == "holdout" else None,
        },
    }

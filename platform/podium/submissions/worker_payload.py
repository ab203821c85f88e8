"""What a claiming worker receives: everything to train and predict, and no hidden labels.

Manifests are copied with their hidden file entries removed; files are listed
from the participant-facing rows only. `work_order` builds the order of anything a
worker trains (an entry here, a lab run in podium.lab), so the two never differ.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.urls import reverse

from common.protocol import Budget, ClaimOrder, DatasetOrder
from datasets.formats import prediction_header
from datasets.metrics import get_metric
from podium.submissions.selectors import worker_datasets
from podium.submissions.validation import config_budget


def public_manifest(manifest: dict) -> dict:
    out = dict(manifest)
    files = manifest.get("files") or {}
    out["files"] = {name: entry for name, entry in files.items() if not entry.get("hidden")}
    out.pop("hidden", None)
    return out


def _dataset_payload(*, dataset, request, file_path: Callable[[str, str], str]) -> DatasetOrder:
    files = []
    for f in dataset.files.filter(hidden=False).order_by("name"):
        if (dataset.manifest.get("files") or {}).get(f.name, {}).get("hidden"):
            continue
        path = file_path(dataset.slug, f.name)
        files.append(
            {
                "name": f.name,
                "sha256": f.sha256,
                "size": f.size,
                "path": path,
                "url": request.build_absolute_uri(path),
            }
        )
    return {
        "slug": dataset.slug,
        "version": dataset.version,
        "task_type": dataset.task_type,
        "manifest": public_manifest(dataset.manifest),
        "files": files,
    }


def work_order(
    *,
    submission_id: int | None,
    attempt: int,
    kind: str,
    config: dict | None,
    config_text: str,
    competition: dict,
    metric_name: str,
    datasets: list,
    budget: Budget,
    request,
    callback: Callable[[str], str],
    file_path: Callable[[str, str], str],
) -> ClaimOrder:
    """A `ClaimOrder`: `datasets` is the dataset to train on first, then the pre-training
    datasets allowed; `callback(name)` and `file_path(slug, name)` the worker's paths."""
    metric = get_metric(metric_name)
    manifest = datasets[0].manifest
    return {
        "submission_id": submission_id,
        "attempt": attempt,
        "kind": kind,
        "config": config,
        "config_text": config_text,
        "competition": competition,
        "metric": {
            "name": metric.name,
            "higher_is_better": metric.higher_is_better,
            "needs_proba": metric.needs_proba,
        },
        "dataset": _dataset_payload(dataset=datasets[0], request=request, file_path=file_path),
        "pretrain": [_dataset_payload(dataset=d, request=request, file_path=file_path) for d in datasets[1:]],
        "allowed_pretrain": [d.slug for d in datasets[1:]],
        "prediction_format": {
            "id_column": manifest["id_column"],
            "header": prediction_header(manifest, metric.name),
            "target": manifest.get("target"),
            "classes": manifest.get("classes"),
            "needs_proba": metric.needs_proba,
        },
        "budget": budget.as_dict(),
        "heartbeat_interval_s": max(int(settings.PODIUM_HEARTBEAT_TIMEOUT.total_seconds() // 4), 1),
        "callbacks": {name: callback(name) for name in ("heartbeat", "epochs", "predictions", "fail")},
    }


def claim_payload(*, submission, request) -> ClaimOrder:
    from podium.competitions.selectors import submission_phase

    phase = submission_phase(submission)
    competition = submission.competition

    def callback(name: str) -> str:
        return reverse(f"submissions:worker-{name}", kwargs={"submission_id": submission.pk})

    def file_path(dataset_slug: str, name: str) -> str:
        return reverse(
            "submissions:worker-file",
            kwargs={"submission_id": submission.pk, "dataset_slug": dataset_slug, "name": name},
        )

    return work_order(
        submission_id=submission.pk,
        attempt=submission.attempt,
        kind=submission.kind,
        config=submission.config,
        config_text=submission.config_text,
        competition={"slug": competition.slug, "task_type": competition.task_type},
        metric_name=competition.metric,
        datasets=worker_datasets(competition=competition, phase=phase),
        budget=config_budget(phase),
        request=request,
        callback=callback,
        file_path=file_path,
    )

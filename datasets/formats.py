"""The participant-facing CSV formats: prediction headers and sample submissions."""

from __future__ import annotations

from collections.abc import Sequence

from datasets.bundle import write_csv
from datasets.metrics import Metric, get_metric


def prediction_kind(metric: Metric) -> str:
    """What a predictions file holds for this metric: a `label`, class `proba`bilities or a `value`."""
    if metric.needs_proba:
        return "proba"
    return "label" if metric.task_type == "classification" else "value"


def prediction_header(manifest: dict, metric: str) -> list[str]:
    """`id,<target>`, or `id,<class>…` for probability metrics (docs/architecture.md)."""
    if get_metric(metric).needs_proba:
        return [manifest["id_column"], *manifest["classes"]]
    return [manifest["id_column"], manifest["target"]]


def sample_submission(manifest: dict, metric: str, test_ids: Sequence[str]) -> bytes:
    """A valid predictions file: the first class, uniform probabilities, or 0 for regression."""
    m = get_metric(metric)
    if m.task_type != manifest["task_type"]:
        raise ValueError(f"metric {metric!r} is for {m.task_type}, the dataset is {manifest['task_type']}")
    header = prediction_header(manifest, metric)
    if m.needs_proba:
        k = len(manifest["classes"])
        fill = [repr(1.0 / k)] * k
    elif manifest["task_type"] == "classification":
        fill = [manifest["classes"][0]]
    else:
        fill = ["0"]
    return write_csv(header, ([str(i), *fill] for i in test_ids))

"""What a run leaves behind: the weights as safetensors and the predictions CSV."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from datasets.bundle import write_csv
from datasets.formats import prediction_header
from datasets.metrics import get_metric
from workers.data import TrainData
from workers.spec import ModelConfig
from workers.training.result import TrainError, TrainResult


def save_weights(result: TrainResult, config: ModelConfig, path: Path) -> Path:
    """Weights as safetensors (never pickle), with the config and input
    normalisation in the metadata so the file alone reproduces predictions."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": "podium-weights-1",
        "config": json.dumps(config.model_dump(mode="json"), sort_keys=True),
        "preprocessing": json.dumps(result.preprocessing),
        "classes": json.dumps(result.classes),
        "task_type": result.task_type,
    }
    tmp = path.with_suffix(path.suffix + ".part")
    save_file(result.state_dict, str(tmp), metadata=metadata)
    tmp.replace(path)  # never a half-written weights file under the final name
    return path


def predictions_csv(result: TrainResult, manifest: Mapping | TrainData, metric: str | None = None) -> bytes:
    """The test predictions in the sample-submission format (`datasets.formats`): `id,<target>`
    with a label or number per row, or `id,<class>...` probabilities for probability metrics
    (log_loss, roc_auc)."""
    if result.predictions is None:
        raise TrainError(f"the run has no predictions: {result.stop_message}")
    if isinstance(manifest, TrainData):
        manifest = manifest.manifest
    metric = metric or result.metric
    header = prediction_header(manifest, metric)
    ids = (str(i) for i in result.test_ids)
    if get_metric(metric).needs_proba:
        rows = ([i, *(repr(float(p)) for p in row)] for i, row in zip(ids, result.probabilities, strict=True))
    elif result.task_type == "classification":
        rows = ([i, str(p)] for i, p in zip(ids, result.predictions, strict=True))
    else:
        rows = ([i, repr(float(p))] for i, p in zip(ids, result.predictions, strict=True))
    return write_csv(header, rows)

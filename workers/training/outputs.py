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

HEADER_ALIGN = 8  # safetensors pads its JSON header so the data starts 8-byte aligned


def canonical_safetensors(raw: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys sorted.

    The library keeps the metadata in a hash map with a per-process random seed, so two
    identical runs wrote the same tensors under differently ordered headers. Tensor offsets
    count from the end of the header, so re-serialising the header moves nothing else."""
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % HEADER_ALIGN)
    return len(text).to_bytes(8, "little") + text + raw[8 + n :]


def save_weights(
    result: TrainResult, config: ModelConfig, path: Path, *, extra: Mapping[str, str] | None = None
) -> Path:
    """Weights as safetensors (never pickle), with the config and input
    normalisation in the metadata so the file alone reproduces predictions;
    byte for byte the same for the same weights (`canonical_safetensors`).
    `extra`: more metadata (an ensemble's member indices)."""
    from safetensors.torch import save

    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": "podium-weights-1",
        "config": json.dumps(config.model_dump(mode="json"), sort_keys=True),
        "preprocessing": json.dumps(result.preprocessing),
        "classes": json.dumps(result.classes),
        "task_type": result.task_type,
        **(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(canonical_safetensors(save(result.state_dict, metadata=metadata)))
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

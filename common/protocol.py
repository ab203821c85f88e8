"""What the web tier and the compute tier exchange (docs/architecture.md, "The worker protocol").

The tiers never import each other: tasks are sent by name, the claim answer and the
epoch records travel as JSON. Their names and shapes are defined here, once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

# Task names and queues. A task's name is its module path in the tier that runs it.
TRAIN_TASK = "workers.tasks.train_submission"  # (submission_id, attempt, token)
SCORE_TASK = "podium.submissions.tasks.score_submission"  # (submission_id, attempt)
REAP_TASK = "podium.submissions.tasks.reap_stale"
# beat: release waiting model entries to the training queue (the fair queue's safety net)
RELEASE_TASK = "podium.submissions.tasks.release_waiting"
REVEAL_TASK = "podium.leaderboards.tasks.reveal_due"
# The mails (podium.mail.tasks), sent by name from the services whose changes cause them.
ENTRY_MAIL_TASK = "podium.mail.tasks.mail_entry_result"
REVEAL_MAIL_TASK = "podium.mail.tasks.mail_reveal"
VERIFY_MAIL_TASK = "podium.mail.tasks.mail_verification"
CLOSING_MAIL_TASK = "podium.mail.tasks.mail_closing_reminders"
RESCORE_TASK = "podium.operations.tasks.rescore_advance"  # (job_id): one chunk of a rescore job
RESCORE_RESUME_TASK = "podium.operations.tasks.rescores_resume_stale"  # beat: re-send a stalled job's task
# The lab (podium.lab): one run of an ablation or a study, trained on the training queue.
LAB_TASK = "workers.tasks.train_lab_run"  # (run_id, attempt, token)
LAB_REAP_TASK = "podium.lab.tasks.reap_stale_runs"  # beat: requeue or fail silent lab runs

GPU_QUEUE = "gpu"
CPU_QUEUE = "cpu"
SCORING_QUEUE = "scoring"
# Beat's periodic tasks (the reaper, the reveal), consumed by a worker of their own: the
# reaper rescues entries stuck behind a dead scorer, so it must not wait in the scorer's queue.
MAINTENANCE_QUEUE = "maintenance"
TRAIN_QUEUES = (GPU_QUEUE, CPU_QUEUE)


# The most models one entry may train (a sweep's variants, an ensemble's seeds): the schema's
# bound, and the largest `max_variants` a competition may set.
MAX_VARIANTS = 32


@dataclass(frozen=True)
class Budget:
    """A competition's equal compute budget; None means no limit.

    An entry's variants (a sweep's or an ensemble's) share it: `epochs` counts the epochs of
    all of them (per phase), `seconds` is the entry's wall clock, `params` the model that
    predicts (an ensemble's members together). `variants` is the largest sweep or ensemble
    the organisers allow (1: a single model per entry).

    On the wire (the claim answer) it is `{"epochs", "params", "seconds", "variants"}`,
    exactly these keys; a missing key (a platform from before variants) is no limit.
    """

    epochs: int | None = None
    params: int | None = None
    seconds: float | None = None
    variants: int | None = None

    KEYS = ("epochs", "params", "seconds", "variants")

    def __post_init__(self) -> None:
        for key, kind in (("epochs", int), ("params", int), ("seconds", float), ("variants", int)):
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"budget.{key} must be a number or null, not {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"budget.{key} must be > 0, not {value!r}")
            if kind is int and value != int(value):
                raise ValueError(f"budget.{key} must be a whole number, not {value!r}")
            object.__setattr__(self, key, kind(value))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Budget:
        if data is None:
            return cls()
        unknown = set(data) - set(cls.KEYS)
        if unknown:
            raise ValueError(f"unknown budget keys: {', '.join(sorted(map(str, unknown)))}")
        return cls(**{key: data.get(key) for key in cls.KEYS})

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.KEYS}


class DatasetFile(TypedDict):
    name: str
    sha256: str
    size: int
    path: str  # the worker's download path on the platform
    url: str


class DatasetOrder(TypedDict):
    slug: str
    version: int
    task_type: str
    manifest: dict[str, Any]  # hidden files removed
    files: list[DatasetFile]  # participant-facing files only


class MetricInfo(TypedDict):
    name: str
    higher_is_better: bool
    needs_proba: bool


class PredictionFormat(TypedDict):
    id_column: str
    header: list[str]
    target: str | None
    classes: list[str] | None
    needs_proba: bool


class ClaimOrder(TypedDict):
    """The answer to `POST /api/worker/submissions/{id}/claim/`: all a worker needs, no hidden labels."""

    submission_id: int
    attempt: int
    kind: str
    config: dict[str, Any] | None
    config_text: str
    competition: dict[str, str]  # slug, task_type
    metric: MetricInfo
    dataset: DatasetOrder
    pretrain: list[DatasetOrder]
    allowed_pretrain: list[str]
    prediction_format: PredictionFormat
    budget: dict[str, Any]  # Budget.as_dict()
    heartbeat_interval_s: int
    callbacks: dict[str, str]  # heartbeat, epochs, predictions, fail -> path


class EvaluateOrder(TypedDict):
    """Where a lab run is evaluated: `holdout` (train on the rest of the training file, predict
    the held-out rows, named by their row number in train.csv; `datasets.holdout`), or `test`
    (predict the dataset's test rows, as an entry does). `fraction` and `seed` only for holdout."""

    on: str  # holdout | test
    fraction: float | None
    seed: int | None


class LabClaimOrder(ClaimOrder):
    """The answer to `POST /api/worker/lab-runs/{id}/claim/`: a `ClaimOrder` (its
    `submission_id` the ablated entry, or None for a study) and where to evaluate."""

    lab_run_id: int
    evaluate: EvaluateOrder


class MetricRef(TypedDict):
    name: str
    value: float | None


class EpochRecord(TypedDict, total=False):
    """One epoch as the trainer reports it and `POST …/epochs/` stores it.

    Non-finite floats (a diverged loss) travel as null: JSON cannot carry NaN.
    """

    epoch: int
    phase: str  # "train" or "pretrain"
    train_loss: float | None
    val_loss: float | None
    val_metric: MetricRef | None
    lr: float | None
    seconds: float
    grad_norms: dict[str, float | None]
    partial: bool  # present (true) on an epoch a stop interrupted
    # Which of the entry's variants (a sweep's or an ensemble's, from 0) trained this epoch;
    # absent for an entry of one model. Epoch numbers count per variant.
    variant: int


class RunEnvironment(TypedDict):
    """Where a run trained: results can differ with the torch release, the device and the
    CPU thread count (the order of floating-point sums)."""

    torch: str  # torch.__version__
    device: str  # cpu, or cuda:0 (its name)
    threads: int  # torch's intra-op CPU threads
    precision: str  # fp32 | bf16: what the run used
    precision_asked: str  # what the config asked for (bf16 falls back to fp32 without a GPU)


class VariantOutcome(TypedDict, total=False):
    """How one variant of a sweep or an ensemble ended."""

    index: int  # from 0, as the epoch records' `variant`
    label: str  # what sets it apart: "lr=0.003, dropout=0.2", "seed 2"
    stopped_reason: str
    epochs_run: int
    val_metric: MetricRef | None  # on the entry's validation rows (the training data's hold-out)
    val_loss: float | None
    error: str  # a variant that failed: its reason; it has no predictions


class VariantsReport(TypedDict):
    """What an entry of several models did with them: a sweep keeps the one best on the
    validation rows (`kept`), an ensemble averages the predictions of all that trained."""

    kind: str  # sweep | ensemble
    select: str  # a sweep's choice: metric | val_loss; an ensemble: mean
    kept: int | None  # the sweep's winner; None for an ensemble
    outcomes: list[VariantOutcome]


class RunReport(TypedDict, total=False):
    """How an attempt ended, posted by the worker with its predictions (the multipart field
    `report`, JSON) or its failure (`report` in the body), stored on the entry and shown there."""

    environment: RunEnvironment
    stopped_reason: str  # completed, early_stopping, diverged, budget_seconds, ...
    stop_message: str
    notes: list[str]  # sentences for the participant: a precision fallback, an early stop
    variants: VariantsReport  # an entry with a sweep or an ensemble


# The Celery inspect command a trainer answers with its devices' figures (a list of
# DeviceStats): what the status page shows per device (docs/architecture.md, "Packed training").
DEVICE_STATS_COMMAND = "podium_devices"


class DeviceStats(TypedDict):
    """One training device of one trainer process, as its pool sees it now."""

    device: str  # cpu, or cuda:0 (its name)
    packing: bool  # whether entries of one architecture train together (PODIUM_WORKER_PACKING)
    in_flight: int  # entries the process holds: waiting for the device and training
    waiting: int
    training: int
    packs: list[int]  # the size of each pack training now (1: an entry alone)
    packs_done: int
    entries_done: int
    mean_pack_size: float | None  # over the last 100 packs
    memory_admitted_bytes: int  # the memory estimates of the packs training now
    memory_capacity_bytes: int | None  # what the pool may admit: a fraction of the free memory
    memory_used_bytes: int | None  # GPU: the device's memory in use; CPU: the process's resident memory
    memory_total_bytes: int | None
    # GPU: the share of time a kernel ran (NVML); CPU: the process's CPU time over the last
    # interval (100 = one core busy).
    utilisation_percent: float | None


RUN_REPORT_MAX_NOTES = 10


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf as None and numpy/torch scalars as Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return json_safe(value.item())
    return value

"""One training attempt on a worker, from claim to predictions, over HTTP only.

    claim -> fetch dataset files (cache) -> arrays -> the device pool trains it, alone or
          packed with entries of the same architecture (heartbeats, epochs)
          -> upload predictions and weights -> done
    any error -> POST fail with a readable reason

Many attempts run at once in one process (Celery's threads pool): each task thread does its
own HTTP (claim, epochs, predictions) and waits for its entry's result from the process's
`workers.device_pool.DevicePool`, so the device never waits on the network.

The worker never touches the database and never sees hidden labels: the claim
answer carries the config, the manifest and the download URLs of the
participant-facing files; the scorer on the web tier computes the scores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import queue
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from common.broker import task_time_limit
from common.env import EnvError, env_float, env_str
from common.protocol import Budget, ClaimOrder, DatasetOrder, EpochRecord, json_safe
from datasets.arrays import DatasetFileError
from podium_client.errors import ApiError, AuthError, Conflict, PodiumError
from podium_client.worker import WorkerClient
from workers.cache import CacheError, FileCache
from workers.data import DataError
from workers.environment import run_environment, run_report, set_threads, threads_from_env
from workers.spec import ConfigError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from workers.device_pool import DevicePool, TrainJob

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunnerSettings:
    api_url: str
    cache_dir: Path
    work_dir: Path | None = None
    heartbeat_interval: float = 10.0
    device: str = "auto"  # auto | cpu | cuda
    threads: int | None = None  # torch's CPU threads; None: PODIUM_WORKER_THREADS or the CPUs available
    # Seconds an attempt may take from its start, waiting for the device included; past it the
    # entry fails with a reason. Celery's threads pool enforces no time limit itself.
    time_limit_s: float | None = None

    @classmethod
    def from_env(cls) -> RunnerSettings:
        var = Path(env_str("PODIUM_VAR_DIR", "") or ROOT / "var")
        device = env_str("PODIUM_WORKER_DEVICE", "auto")
        if device not in ("auto", "cpu", "cuda"):
            raise EnvError(f"environment variable PODIUM_WORKER_DEVICE={device!r} must be auto, cpu or cuda")
        heartbeat = env_float("PODIUM_HEARTBEAT_INTERVAL_S", 10.0)
        if heartbeat <= 0:
            raise EnvError(f"environment variable PODIUM_HEARTBEAT_INTERVAL_S={heartbeat} must be > 0")
        work = env_str("PODIUM_WORKER_WORK_DIR", "")
        return cls(
            threads=threads_from_env(),
            api_url=env_str("PODIUM_API_URL", "http://127.0.0.1:8000"),
            cache_dir=Path(env_str("PODIUM_WORKER_CACHE", "") or var / "worker-cache"),
            work_dir=Path(work) if work else None,
            heartbeat_interval=heartbeat,
            device=device,
            time_limit_s=soft_time_limit(task_time_limit()),
        )


def soft_time_limit(hard_limit: int) -> int:
    """When an attempt stops itself: early enough to post its failure before the hard limit."""
    return max(5, hard_limit - 15)


class Stop(Exception):
    """Training stopped because the platform said so (cancelled or superseded)."""


class Heartbeat:
    """Beats from a background thread while the attempt runs.

    A 409 answer (cancelled, or the reaper gave the entry to a new attempt)
    sets `stopped`; the trainer polls it between batches and stops. Network
    errors are logged and the next beat tries again: the reaper's timeout is
    several intervals long.
    """

    def __init__(self, client_factory, attempt: int, interval: float):
        self._client_factory = client_factory
        self.attempt = attempt
        self.interval = interval
        self.stopped = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podium-heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        with self._client_factory() as client:
            while not self._done.wait(self.interval):
                try:
                    if not client.heartbeat(self.attempt):
                        log.info("heartbeat: the platform stopped this attempt")
                        self.stopped.set()
                        return
                except PodiumError as exc:
                    log.warning("heartbeat failed: %s", exc)


@dataclass
class Progress:
    """What the attempt is doing now, for a failure message that says where it broke."""

    stage: str = "starting"
    epoch: int = 0
    epochs_done: list[int] = field(default_factory=list)
    environment: dict | None = None  # common.protocol.RunEnvironment, once the device is chosen

    def where(self) -> str:
        if self.stage == "training":
            return f"while training epoch {self.epoch + 1}"
        return f"while {self.stage}"


def run_submission(
    submission_id: int,
    attempt: int,
    token: str,
    *,
    settings: RunnerSettings | None = None,
    pool: DevicePool | None = None,
) -> str:
    """Run one attempt of an entry. Returns "done", "dropped" (stale or cancelled at claim),
    "refused" (the token was not accepted), "stopped" (cancelled or superseded while training)
    or "failed" (the reason was posted). `pool`: the device pool to train in (default: the
    process's pool of the device the settings pick)."""
    return run_attempt("submissions", submission_id, attempt, token, settings=settings, pool=pool)


def run_lab_run(
    run_id: int,
    attempt: int,
    token: str,
    *,
    settings: RunnerSettings | None = None,
    pool: DevicePool | None = None,
) -> str:
    """Run one attempt of a lab run (an ablation's variant, a study's model), as an entry's:
    the same device pool and packing; in holdout mode it trains on the training rows left
    after the claim's held-out part and predicts those rows (`workers.data.holdout_data`)."""
    return run_attempt("lab-runs", run_id, attempt, token, settings=settings, pool=pool)


def run_attempt(
    resource: str,
    object_id: int,
    attempt: int,
    token: str,
    *,
    settings: RunnerSettings | None = None,
    pool: DevicePool | None = None,
) -> str:
    """One attempt of what `resource` names (`podium_client.worker.RESOURCES`), from claim to
    predictions; the outcomes of `run_submission`."""
    settings = settings or RunnerSettings.from_env()
    what = {"submissions": "submission", "lab-runs": "lab run"}[resource]
    deadline = time.monotonic() + (settings.time_limit_s or math.inf)

    def client_factory(retries: int = 5) -> WorkerClient:
        return WorkerClient(settings.api_url, object_id, token, retries=retries, resource=resource)

    # From the task's start until its job is submitted, the device's pool knows one more entry
    # is on its way (a burst's messages, claims and data loads come one after another).
    on_its_way = contextlib.ExitStack()
    with contextlib.suppress(Exception):  # a device that cannot be had fails the attempt after its claim
        from workers.device_pool import pool_for

        pool = pool or pool_for(pick_device(settings.device))
    if pool is not None:
        on_its_way.enter_context(pool.arriving())
    with on_its_way, client_factory() as client:
        try:
            order = client.claim(attempt)
        except Conflict as exc:
            log.info("%s %s attempt %s is no longer current: %s", what, object_id, attempt, exc.summary)
            return "dropped"
        except AuthError as exc:
            # An expired or foreign token cannot speak for the entry, not even to fail it;
            # the reaper requeues the entry with a fresh token.
            log.error("%s %s attempt %s: the platform refused the token: %s", what, object_id, attempt, exc)
            return "refused"
        progress = Progress()
        work_root = settings.work_dir
        if work_root is not None:
            work_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"podium-{resource}-{object_id}-{attempt}-", dir=work_root))
        try:
            # The platform says how often it wants a beat (a fraction of its reaper timeout).
            interval = min(settings.heartbeat_interval, float(order.get("heartbeat_interval_s") or math.inf))
            with Heartbeat(lambda: client_factory(retries=1), attempt, interval) as beat:
                try:
                    return _attempt(
                        client, order, attempt, settings, work, progress, beat, pool, deadline, on_its_way
                    )
                except Stop:
                    return "stopped"
                except Conflict as exc:
                    # A callback met a cancelled or superseded entry before the heartbeat noticed:
                    # the participant's (or the reaper's) doing, not a fault to trace.
                    log.info("%s %s attempt %s stopped: %s", what, object_id, attempt, exc.summary)
                    return "stopped"
                except Exception as exc:  # every error ends as a readable reason on the entry
                    if beat.stopped.is_set():
                        return "stopped"
                    message = describe_error(exc, progress, order)
                    if is_participant_fault(exc):
                        # The config's own outcome (diverged, over budget, invalid): one line.
                        log.info("%s %s attempt %s failed: %s", what, object_id, attempt, message)
                    else:  # a platform fault: the traceback is for the operator
                        log.exception("%s %s attempt %s failed: %s", what, object_id, attempt, message)
                    report = {"environment": progress.environment} if progress.environment else None
                    try:
                        client.fail(attempt, message, report=report)
                    except Conflict:
                        return "stopped"
                    except PodiumError as post_error:
                        # Unreachable platform: the entry's heartbeat stops and the reaper takes over.
                        log.error("could not report the failure of %s %s: %s", what, object_id, post_error)
                    return "failed"
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _attempt(
    client,
    order: ClaimOrder,
    attempt: int,
    settings: RunnerSettings,
    work: Path,
    progress: Progress,
    beat: Heartbeat,
    pool: DevicePool | None,
    deadline: float,
    on_its_way: contextlib.ExitStack,
) -> str:
    from workers import training  # torch: imported in the worker process only
    from workers.device_pool import Cancelled, pool_for

    pool = pool or pool_for(pick_device(settings.device))
    try:
        entry = _submit(client, order, attempt, settings, work, progress, beat, pool, deadline)
    finally:
        on_its_way.close()
    refused = _post_epochs(client, attempt, entry, progress)
    if refused is not None:
        raise refused  # a Conflict (cancelled, superseded) or an unreachable platform
    try:
        result = entry.future.result()
    except Cancelled:
        result = None
    stopped = result is None or result.stopped_reason == training.CANCELLED
    if stopped and not beat.stopped.is_set() and time.monotonic() > deadline:
        raise TimeLimit()
    if stopped or beat.stopped.is_set():
        raise Stop()

    progress.stage = "uploading the predictions"
    job = entry.job
    csv_bytes = training.predictions_csv(result, job.data.manifest, job.metric)
    weights = None
    if result.weights_path is not None and Path(result.weights_path).is_file():
        weights = Path(result.weights_path).read_bytes()
    report = run_report(result, precision_asked=job.config.train.precision)
    client.predictions(attempt, csv_bytes, weights=weights, report=report)
    log.info(
        "%s: %s after %d epochs (%s)",
        _label(order, attempt),
        result.stopped_reason,
        result.epochs_run,
        result.stop_message,
    )
    return "done"


def _label(order, attempt: int) -> str:
    if "lab_run_id" in order:
        return f"lab run {order['lab_run_id']} attempt {attempt}"
    return f"submission {order.get('submission_id')} attempt {attempt}"


@dataclass
class _InFlight:
    """An entry handed to the device pool, as its task thread follows it."""

    job: TrainJob
    future: Future
    records: queue.Queue  # the epoch records the device thread reported, to post from this thread
    leave: threading.Event  # set when the entry must stop: an epoch's post was refused or failed


def _submit(
    client, order: ClaimOrder, attempt: int, settings, work: Path, progress: Progress, beat, pool, deadline
):
    """Read the config and the data, and hand the entry to the pool."""
    from workers import training
    from workers.device_pool import TrainJob

    progress.stage = "reading the model config"
    config = _parse_config(order)

    progress.stage = "downloading the dataset"
    cache = FileCache(settings.cache_dir)
    data, data_key = _load_dataset(client, cache, order["dataset"], work / "data")
    evaluate = order.get("evaluate") or {"on": "test"}
    if evaluate.get("on") == "holdout":
        data, data_key = _held_out(data, data_key, float(evaluate["fraction"]), int(evaluate["seed"]))
    pretrain = _pretrain_data(client, cache, order, config, work)

    # Every worker sets the thread count itself, as the local runner does: results depend on it.
    threads = set_threads(settings.threads or threads_from_env())
    asked = config.train.precision
    progress.environment = run_environment(
        pool.device, precision_asked=asked, precision=training.plan_for(config).precision_on(pool.device)
    )
    progress.stage = "waiting for the device"

    records: queue.Queue[EpochRecord] = queue.Queue()
    leave = threading.Event()

    def should_stop() -> bool:
        return beat.stopped.is_set() or leave.is_set() or time.monotonic() > deadline

    job = TrainJob(
        label=_label(order, attempt),
        config=config,
        data=data,
        data_key=data_key,
        budget=Budget.from_dict(order.get("budget")),
        out_dir=work / "out",
        metric=(order.get("metric") or {}).get("name"),
        on_epoch=records.put,  # posted from the task thread: the device never waits on HTTP
        should_stop=should_stop,
        threads=threads,
        pretrain_data=pretrain or None,
    )
    return _InFlight(job=job, future=pool.submit(job), records=records, leave=leave)


def _post_epochs(client, attempt: int, entry: _InFlight, progress: Progress) -> Exception | None:
    """Post the entry's epoch records as the device thread reports them, until its training
    ends; the error that made it leave, if a post was refused or failed.

    The first epoch is posted as soon as it ends; later ones at most every
    `EPOCH_POST_INTERVAL_S`, those that ended meanwhile in one request: a run of short
    epochs (a digits-size model trains an epoch in milliseconds) would otherwise cost a
    request per epoch, more than its training, and a pack of many entries would keep the
    platform and this process's interpreter busy with posts instead of the step. A slow run
    still shows each epoch as it ends."""
    refused: Exception | None = None
    last_post = -math.inf
    while True:
        try:
            first = entry.records.get(timeout=0.1)
        except queue.Empty:
            if entry.job.started.is_set():
                progress.stage = "training"
            # Records are queued before the future ends: done and empty means all were read.
            if entry.future.done() and entry.records.empty():
                return refused
            continue
        progress.stage = "training"
        wait = last_post + EPOCH_POST_INTERVAL_S - time.monotonic()
        if wait > 0 and refused is None:
            # Gather the epochs ending meanwhile; the run's end posts what it has at once.
            futures.wait([entry.future], timeout=wait)
        batch = [first]
        while len(batch) < EPOCHS_PER_POST:
            try:
                batch.append(entry.records.get_nowait())
            except queue.Empty:
                break
        if refused is not None:
            continue  # the entry is leaving its pack: the rest is not posted
        records = []
        for record in batch:
            payload = epoch_payload(record)
            records.append((int(payload.get("epoch", len(progress.epochs_done) + len(records) + 1)), payload))
        progress.epoch = records[-1][0]
        last_post = time.monotonic()
        try:
            if len(records) == 1:
                client.epoch(attempt, *records[0])
            else:
                client.epochs(attempt, records)
        except Exception as exc:  # noqa: BLE001 - the runner reports it as the attempt's end
            refused = exc
            entry.leave.set()
            continue
        progress.epochs_done.extend(epoch for epoch, _ in records)


# At most this many records in one post (the platform takes up to 500).
EPOCHS_PER_POST = 200
# The least time between two epoch posts of one entry (its first epoch goes at once).
EPOCH_POST_INTERVAL_S = 1.0


class TimeLimit(Exception):
    """The attempt ran past the worker's time limit (PODIUM_TASK_TIME_LIMIT, less a margin)."""


class TrainingRefused(Exception):
    """The trainer ended the run itself (budget, diverged loss…) with a reason for the participant."""


def pick_device(wanted: str) -> str:
    import torch

    if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("PODIUM_WORKER_DEVICE=cuda but no CUDA device is available")
        return "cuda"
    return "cpu"


# Arrays of the datasets trained on lately, by their files' hashes: a process holding many
# entries of one dataset reads its files once. A view of the file cache: an entry is used only
# while its files are still there (an operator who clears the cache gets fresh downloads).
_ARRAYS: OrderedDict[str, object] = OrderedDict()
_ARRAYS_KEPT = 4
_ARRAYS_LOCK = threading.Lock()


def _load_dataset(client, cache: FileCache, dataset: DatasetOrder, folder: Path):
    """The dataset's arrays as a `TrainData`, and the key of its files (equal keys, equal data)."""
    from datasets.images import worker_files

    manifest = dataset["manifest"]
    needed = worker_files(manifest)
    files = [
        entry
        for entry in dataset["files"]
        # Hidden files are never asked for (the platform does not serve them anyway); an image
        # dataset's archives neither: the worker trains on the decoded arrays.
        if not entry.get("hidden") and (needed is None or entry["name"] in needed)
    ]
    key = hashlib.sha256(
        json.dumps(
            [sorted((f["name"], f["sha256"]) for f in files), manifest], sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    with _ARRAYS_LOCK:  # one thread reads a dataset while the others wait for it
        data = _ARRAYS.get(key)
        if data is not None and all(cache.has(f["sha256"]) for f in files):
            _ARRAYS.move_to_end(key)
            return data, key
        data = _read_dataset(client, cache, dataset, files, folder)
        _ARRAYS[key] = data
        while len(_ARRAYS) > _ARRAYS_KEPT:
            _ARRAYS.popitem(last=False)
        return data, key


def _held_out(data, data_key: str, fraction: float, seed: int):
    """A lab run's data in holdout mode (`workers.data.holdout_data`) and its key, kept with the
    dataset's arrays: an ablation's runs share one split's arrays instead of a copy each, and
    runs of one split pack together, as entries of one dataset do."""
    from workers.data import holdout_data

    key = f"{data_key}:holdout:{fraction}:{seed}"
    with _ARRAYS_LOCK:
        held = _ARRAYS.get(key)
        if held is None:
            held = holdout_data(data, fraction=fraction, seed=seed)
            _ARRAYS[key] = held
            while len(_ARRAYS) > _ARRAYS_KEPT:
                _ARRAYS.popitem(last=False)
        else:
            _ARRAYS.move_to_end(key)
        return held, key


def _read_dataset(client, cache: FileCache, dataset: DatasetOrder, files: list, folder: Path):
    import numpy as np

    from datasets.arrays import load_arrays
    from workers.data import TrainData

    linked = []
    for entry in files:
        path = cache.fetch(
            entry["sha256"],
            lambda handle, url=entry["url"]: _download(client, url, handle),
            size=entry.get("size"),
            label=f"dataset file {dataset.get('slug', '?')}/{entry['name']}",
        )
        linked.append((entry["name"], path))
    cache.link_dataset(linked, folder)
    manifest = dataset["manifest"]
    X_train, y_train, X_test, test_ids = load_arrays(folder, manifest)
    return TrainData(
        X_train=np.asarray(X_train),
        y_train=np.asarray(y_train),
        X_test=np.asarray(X_test),
        test_ids=np.asarray(test_ids),
        manifest=manifest,
        slug=dataset.get("slug", ""),
    )


def _pretrain_data(client, cache: FileCache, order: ClaimOrder, config, work: Path) -> dict:
    """Arrays of the pre-training dataset the config names, when the competition allows it."""
    wanted = config.pretrain.dataset if config.pretrain is not None else None
    if not wanted:
        return {}
    for dataset in order.get("pretrain") or []:
        if dataset.get("slug") == wanted:
            return {wanted: _load_dataset(client, cache, dataset, work / f"pretrain-{wanted}")[0]}
    allowed = ", ".join(order.get("allowed_pretrain") or []) or "none"
    raise TrainingRefused(
        f"pretrain.dataset: {wanted!r} is not allowed for pre-training in this competition (allowed: {allowed})"
    )


def _download(client, url: str, handle) -> None:
    with client.download(url) as response:
        for chunk in response.iter_bytes(1 << 20):
            handle.write(chunk)


def _parse_config(order: ClaimOrder):
    import json

    from workers.spec import parse_config

    raw = order.get("config_text") or order.get("config")
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return parse_config(text)


def epoch_payload(record: EpochRecord) -> dict:
    """An epoch record as JSON can carry it (a diverged loss is NaN: it travels as null)."""
    return json_safe(dict(record))


def is_participant_fault(exc: BaseException) -> bool:
    """Whether the run failed because of what the participant submitted (a diverged loss, a
    budget, an invalid config, a model too big for memory) rather than the platform."""
    import torch  # in the worker process already: the attempt trains with it

    from workers.training import TrainError

    if isinstance(
        exc, (TrainingRefused, TrainError, ConfigError, FloatingPointError, torch.OutOfMemoryError)
    ):
        return True
    text = str(exc).lower()
    return "out of memory" in text or ("nan" in text and "loss" in text)


def describe_error(exc: BaseException, progress: Progress, order: ClaimOrder | None = None) -> str:
    """A reason a participant can act on, never a traceback."""
    import torch  # in the worker process already: the attempt trains with it
    from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

    from workers.training import TrainError

    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = progress.where()
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text.lower():
        device = "CUDA" if "cuda" in text.lower() or isinstance(exc, torch.OutOfMemoryError) else "memory"
        return f"{device} out of memory {where}; use a smaller batch_size or a smaller model"
    if isinstance(exc, (SoftTimeLimitExceeded, TimeLimitExceeded, TimeLimit)):
        return f"training exceeded the worker's time limit {where}"
    if isinstance(exc, (TrainingRefused, TrainError)):
        return str(exc)  # the trainer's messages are written for the participant
    if isinstance(exc, ConfigError):
        listed = "; ".join(f"{p.path or ''}: {p.message}" for p in exc.problems[:5])
        return f"the model config is invalid: {listed or text}"
    if isinstance(exc, (DataError, DatasetFileError, CacheError)):
        return f"dataset problem {where}: {text}"
    if isinstance(exc, ApiError):
        return f"the platform refused a request {where}: {exc.summary}" + (
            f" ({'; '.join(exc.problems[:3])})" if exc.problems else ""
        )
    if isinstance(exc, PodiumError):
        return f"could not reach the platform {where}: {text}"
    if isinstance(exc, FloatingPointError) or "nan" in text.lower() and "loss" in text.lower():
        return f"training diverged {where}: {text}"
    return f"the worker failed {where}: {name}" + (f": {text}" if text else "")

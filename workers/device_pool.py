"""The device pool: one per training device in a trainer process, shared by every entry the
process holds (docs/architecture.md, "Packed training").

    task thread: claim, data -> submit(job) ----------------> result (or the entry's error)
    pool:        admission by memory -> gather by signature -> pack -> train on the device

Each Celery task thread claims its entry and loads its data, then hands a `TrainJob` to the
pool and waits on its future. The pool's scheduler groups waiting jobs that can train
together (same pack signature, same dataset, same metric), waits for more of them while the
device is free but only while other entries of the process are on their way (claimed, loading
their data; `arriving()`) and at most a short gather window, admits as many members as the
device's memory allows (the schema's estimate, `workers.admission`), and runs the pack on a
device thread; each member's result or exception goes back to its own task thread the moment
the member leaves the pack.

A pack of the packed engine stays open while it trains: at each epoch boundary it takes in
the waiting jobs of its group (as memory and the pack cap allow, and none younger than a
waiting job of another group, which would otherwise wait behind an endless pack), so
entries that arrive over a few hundred milliseconds train as one pack, not as a first entry
alone and the rest after it. A job whose config cannot be packed (signature None), or every
job when packing is off, trains alone through `train()`; convolutional networks on a CPU
train one after another (`train_packed` says why).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from common.env import EnvError, env_bool, env_float, env_int
from common.protocol import Budget, DeviceStats, EpochRecord
from workers.admission import MemoryEstimate, device_free_bytes, memory_estimate
from workers.data import TrainData
from workers.device_stats import StatsLogger, UsageMeter
from workers.environment import set_threads
from workers.spec import ModelConfig, variant_count

log = logging.getLogger(__name__)

RECENT_PACKS = 100  # the packs the mean pack size is over
CANCEL_POLL_S = 0.25  # how often waiting jobs are asked whether they were cancelled


class Cancelled(Exception):
    """The job's `should_stop()` said so before it reached the device."""


@dataclass(frozen=True)
class PoolSettings:
    """How a trainer process uses its device; every field has its environment variable."""

    packing: bool = True  # PODIUM_WORKER_PACKING: same-architecture entries train together
    max_in_flight: int = 16  # PODIUM_WORKER_MAX_IN_FLIGHT: entries held at once (Celery threads)
    memory_fraction: float = 0.8  # PODIUM_WORKER_MEMORY_FRACTION: of the free memory, for admission
    gather_s: float = 0.2  # PODIUM_WORKER_GATHER_MS / 1000: most a free device waits for entries on their way
    max_pack: int = 64  # PODIUM_WORKER_MAX_PACK: members of one pack at most
    concurrent_packs: int = 1  # PODIUM_WORKER_CONCURRENT_PACKS: packs training at once on the device
    stats_interval_s: float = 60.0  # PODIUM_WORKER_STATS_INTERVAL_S: the log line's period; 0: none

    @classmethod
    def from_env(cls) -> PoolSettings:
        fraction = env_float("PODIUM_WORKER_MEMORY_FRACTION", 0.8, maximum=1.0)
        if fraction <= 0:
            raise EnvError(f"environment variable PODIUM_WORKER_MEMORY_FRACTION={fraction} must be > 0")
        return cls(
            packing=env_bool("PODIUM_WORKER_PACKING", True),
            max_in_flight=env_int("PODIUM_WORKER_MAX_IN_FLIGHT", 16, minimum=1, maximum=1024),
            memory_fraction=fraction,
            gather_s=env_int("PODIUM_WORKER_GATHER_MS", 200, minimum=0, maximum=60_000) / 1000,
            max_pack=env_int("PODIUM_WORKER_MAX_PACK", 64, minimum=1, maximum=1024),
            concurrent_packs=env_int("PODIUM_WORKER_CONCURRENT_PACKS", 1, minimum=1, maximum=64),
            stats_interval_s=env_float("PODIUM_WORKER_STATS_INTERVAL_S", 60.0, minimum=0.0),
        )


@dataclass(eq=False)
class TrainJob:
    """One entry's training, as its task thread hands it to the pool. `on_epoch` and
    `should_stop` are called from the device thread: they must return quickly."""

    label: str  # for the log: "submission 12 attempt 1"
    config: ModelConfig
    data: TrainData
    data_key: str  # equal for jobs whose data are the same files (their hashes)
    budget: Budget
    out_dir: Path  # where the weights go (weights.safetensors)
    metric: str | None = None
    on_epoch: Callable[[EpochRecord], None] | None = None
    should_stop: Callable[[], bool] = lambda: False
    threads: int = 1  # torch's CPU threads for the device thread while it trains this job
    pretrain_data: dict[str, TrainData] | None = None
    # Set by the pool.
    estimate: MemoryEstimate | None = None
    signature: str | None = None
    joinable: bool = False  # trains in the packed engine, whose packs take newcomers
    submitted_at: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)

    @property
    def group(self) -> tuple:
        """Jobs with the same group may train in one pack; a signature of None trains alone."""
        if self.signature is None:
            return ("alone", id(self))
        return (self.signature, self.data_key, self.metric)


@dataclass(eq=False)
class _Pack:
    members: list[TrainJob]  # in flight: started, no outcome yet
    cost: int  # bytes admitted for it
    started_at: float
    group: tuple | None = None
    open: bool = False  # a packed engine's pack that still takes newcomers
    order: list[TrainJob] = field(default_factory=list)  # every member in the engine's order


class DevicePool:
    """Entries waiting for and training on one device. Thread-safe; `submit` from any thread."""

    def __init__(
        self,
        device: str,
        settings: PoolSettings | None = None,
        *,
        free_bytes: Callable[[str], int] = device_free_bytes,
        signature: Callable[[ModelConfig, TrainData], str | None] | None = None,
        device_name: str | None = None,
    ):
        """`free_bytes(device)`: the device's free memory now; `signature(config, data)`: what
        entries that may train together share (default: the packed engine's pack_signature)."""
        self.device = device
        self.settings = settings or PoolSettings()
        self.device_name = device_name or device
        self._free_bytes = free_bytes
        self._signature = signature
        self._cond = threading.Condition()
        self._waiting: list[TrainJob] = []
        self._running: list[_Pack] = []
        self._capacity: int | None = None
        self._arriving = 0  # entries claimed by a task thread and not yet submitted
        self._closed = False
        self._packs_done = 0
        self._entries_done = 0
        self._recent_sizes: deque[int] = deque(maxlen=RECENT_PACKS)
        self._usage = UsageMeter(device)
        self._scheduler = threading.Thread(target=self._schedule, name=f"podium-pool-{device}", daemon=True)
        self._scheduler.start()
        self._logger = StatsLogger(self.stats, self.settings.stats_interval_s)
        self._logger.start()

    # ------------------------------------------------------------------ the task threads' side
    def submit(self, job: TrainJob) -> Future:
        """Queue `job`; its future ends with the `TrainResult`, or the exception that ended it
        (`Cancelled` when `should_stop()` said so before it reached the device). Raises what
        the estimate raises (an invalid config) in the caller's thread."""
        from workers.training.packed import pack_signature

        signature = self._signature or pack_signature
        pretrain = None
        if job.config.pretrain is not None and job.pretrain_data:
            pretrain = job.pretrain_data.get(job.config.pretrain.dataset)
        job.estimate = memory_estimate(job.config, job.data, pretrain)
        models = variant_count(job.config)
        if models > 1:
            # A sweep or an ensemble trains its own models together (train_entry packs them):
            # it takes the device as one job of that many models, never a pack mate.
            e = job.estimate
            job.estimate = dataclasses.replace(
                e,
                parameters=e.parameters * models,
                weights=e.weights * models,
                optimiser=e.optimiser * models,
                activations=e.activations * models,
            )
        packable = self.settings.packing and models == 1
        job.signature = signature(job.config, job.data) if packable else None
        if job.signature is not None:
            from workers.training.signature import convolutional

            job.joinable = not (self.device == "cpu" and convolutional(job.config))
        with self._cond:
            if self._closed:
                raise RuntimeError(f"the device pool of {self.device} is closed")
            job.submitted_at = time.monotonic()
            self._waiting.append(job)
            self._cond.notify_all()
        return job.future

    @contextlib.contextmanager
    def arriving(self):
        """Held by a task thread from its start (before its claim) until its job is submitted:
        while any entry is on its way, a free device waits (up to the gather window) for it
        to join a pack, and a lone entry starts an open pack that it can join."""
        with self._cond:
            self._arriving += 1
        try:
            yield self
        finally:
            with self._cond:
                self._arriving -= 1
                self._cond.notify_all()

    def close(self, timeout: float = 10.0) -> None:
        """Stop scheduling: waiting jobs end `Cancelled`; packs training now finish."""
        with self._cond:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            self._cond.notify_all()
        for job in waiting:
            _resolve(job, Cancelled("the worker is shutting down"))
        self._logger.stop()
        self._scheduler.join(timeout)

    # ------------------------------------------------------------------ figures
    def stats(self) -> DeviceStats:
        with self._cond:
            packs = [len(p.members) for p in self._running]
            recent = list(self._recent_sizes)
            figures = {
                "device": self.device_name,
                "packing": self.settings.packing,
                "in_flight": len(self._waiting) + sum(packs),
                "waiting": len(self._waiting),
                "training": sum(packs),
                "packs": packs,
                "packs_done": self._packs_done,
                "entries_done": self._entries_done,
                "mean_pack_size": round(sum(recent) / len(recent), 2) if recent else None,
                "memory_admitted_bytes": sum(p.cost for p in self._running),
                "memory_capacity_bytes": self._capacity,
            }
        return {**figures, **self._usage.sample()}

    # ------------------------------------------------------------------ the scheduler
    def _schedule(self) -> None:
        with self._cond:
            while not self._closed:
                try:
                    self._drop_cancelled()
                    while self._launch_next():
                        pass
                except Exception:  # a bug here must not leave every entry of the process waiting
                    log.exception("the device pool's scheduler failed; it goes on")
                self._cond.wait(self._next_wake())

    def _next_wake(self) -> float:
        wake = CANCEL_POLL_S
        if self._waiting and self._arriving and len(self._running) < self.settings.concurrent_packs:
            oldest = min(job.submitted_at for job in self._waiting)
            wake = min(wake, max(0.005, oldest + self.settings.gather_s - time.monotonic()))
        return wake

    def _drop_cancelled(self) -> None:
        for job in list(self._waiting):
            try:
                stop = job.should_stop()
            except Exception:  # a callback's fault is the job's, as in training
                log.exception("%s: should_stop failed", job.label)
                stop = True
            if stop:
                self._waiting.remove(job)
                _resolve(job, Cancelled("cancelled while waiting for the device"))

    def _groups(self) -> list[list[TrainJob]]:
        """Waiting jobs by group, groups in the order of their oldest job."""
        groups: dict[tuple, list[TrainJob]] = {}
        for job in self._waiting:
            groups.setdefault(job.group, []).append(job)
        return list(groups.values())

    def _launch_next(self) -> bool:
        """Start the next pack when the device has a slot and the group is ready; True if one started."""
        if not self._waiting:
            return False
        group = self._groups()[0]  # strict order: a group never waits behind a younger one
        open_pack = self._open_pack(group[0].group)
        if open_pack is not None and len(open_pack.members) < self.settings.max_pack:
            return False  # that pack takes them in at its next epoch boundary
        if len(self._running) >= self.settings.concurrent_packs:
            return False
        now = time.monotonic()
        alone = group[0].signature is None
        gathering = now - group[0].submitted_at < self.settings.gather_s
        if not alone and self._arriving and len(group) < self.settings.max_pack and gathering:
            return False  # the device is free and pack mates are on their way: wait for them
        if not self._running:
            # Idle: the device's free memory now is what the packs may share until it is idle again.
            self._capacity = int(self.settings.memory_fraction * self._free_bytes(self.device))
        room = (self._capacity or 0) - sum(p.cost for p in self._running)
        members, cost = [], group[0].estimate.data
        for job in group[: self.settings.max_pack]:
            if cost + job.estimate.member > room:
                break
            members.append(job)
            cost += job.estimate.member
        if not members:
            if self._running:
                return False  # wait for memory; later groups wait too (no overtaking)
            members, cost = [group[0]], group[0].estimate.total  # alone on an idle device: try it
            if cost > room:
                log.warning(
                    "%s: its estimate (%d MB) is over the device's admission capacity (%d MB); "
                    "it trains alone",
                    members[0].label,
                    cost >> 20,
                    max(room, 0) >> 20,
                )
        for job in members:
            self._waiting.remove(job)
        # An open pack when mates may come: on a CPU the packed engine's step costs a lone
        # entry about twice its own (vmap, the stacked optimiser), so an entry with nothing on
        # its way trains alone, the fastest it can; on a GPU the engine's CUDA graphs are faster.
        may_grow = len(members) > 1 or self._arriving > 0 or not self.device.startswith("cpu")
        pack = _Pack(
            members=list(members),
            cost=cost,
            started_at=now,
            group=members[0].group,
            open=members[0].joinable and may_grow,
        )
        pack.order = list(members)
        self._running.append(pack)
        threading.Thread(target=self._run, args=(pack,), name="podium-pack", daemon=True).start()
        return True

    def _open_pack(self, group: tuple) -> _Pack | None:
        return next((p for p in self._running if p.open and p.group == group), None)

    def _joiners(self, pack: _Pack) -> list[TrainJob]:
        """The waiting jobs `pack` may take in now (the lock held): of its group, oldest
        first, none younger than a waiting job of another group, within memory and the cap."""
        room = (self._capacity or 0) - sum(p.cost for p in self._running)
        space = self.settings.max_pack - len(pack.members)
        out: list[TrainJob] = []
        for job in self._waiting:
            if job.group != pack.group or len(out) >= space or job.estimate.member > room:
                break
            out.append(job)
            room -= job.estimate.member
        return out

    def _take_newcomers(self, pack: _Pack, closing: bool) -> list:
        """The packed engine's question at an epoch boundary (`Pack(newcomers=...)`)."""
        with self._cond:
            jobs = [] if self._closed else self._joiners(pack)
            for job in jobs:
                self._waiting.remove(job)
                pack.members.append(job)
                pack.order.append(job)
                pack.cost += job.estimate.member
                job.started.set()
            if closing and not jobs:
                pack.open = False  # from now on a job of its group starts a pack of its own
                self._cond.notify_all()
        for job in jobs:
            job.out_dir.mkdir(parents=True, exist_ok=True)
        return [(_pack_member(job), job.out_dir) for job in jobs]

    def _member_done(self, pack: _Pack, position: int, outcome) -> None:
        job = pack.order[position]
        with self._cond:
            if job in pack.members:
                pack.members.remove(job)
                pack.cost -= job.estimate.member
                self._entries_done += 1
            self._cond.notify_all()
        _resolve(job, outcome)

    # ------------------------------------------------------------------ the device thread
    def _run(self, pack: _Pack) -> None:
        members = list(pack.members)
        outcomes: list = []
        try:
            set_threads(members[0].threads)  # torch's thread count is per thread
            for job in members:
                job.started.set()
            if pack.open:
                self._train_open_pack(pack)
            elif len(members) == 1:
                outcomes = [self._train_alone(members[0])]
            else:
                outcomes = self._train_pack(members)
            log.info(
                "pack of %d on %s (%s) in %.1f s",
                len(pack.order),
                self.device,
                ", ".join(job.label for job in pack.order),
                time.monotonic() - pack.started_at,
            )
        except BaseException as exc:  # noqa: BLE001 - every member's thread must hear of it
            outcomes = [exc] * len(members)
            log.exception("a pack of %d on %s failed as a whole", len(pack.order), self.device)
        finally:
            with self._cond:
                pack.open = False
                self._running.remove(pack)
                self._packs_done += 1
                self._entries_done += len(pack.members)
                self._recent_sizes.append(len(pack.order))
                left, pack.members = pack.members, []
                self._cond.notify_all()
            for job, outcome in zip(members, outcomes or [None] * len(members), strict=True):
                _resolve(job, outcome)
            for job in left:  # members still in an open pack that failed as a whole
                _resolve(job, outcomes[0] if outcomes else RuntimeError("the pack ended without its result"))

    def _train_open_pack(self, pack: _Pack) -> None:
        """The packed engine on `pack`, taking newcomers until it closes; each member's
        outcome goes to its future as it leaves. If the engine fails as a whole (not one
        member), the members it left without a result train alone."""
        from workers.training.packed import Pack

        first = pack.members[0]
        for job in pack.members:
            job.out_dir.mkdir(parents=True, exist_ok=True)
        engine = Pack(
            [_pack_member(job) for job in pack.members],
            _with_metric(first.data, first.metric),
            device=_torch_device(self.device),
            newcomers=lambda closing: self._take_newcomers(pack, closing),
            on_result=lambda position, outcome: self._member_done(pack, position, outcome),
        )
        try:
            engine.run([job.out_dir for job in pack.members])
        except Exception:
            with self._cond:
                pack.open = False
                left = list(pack.members)
            log.exception("a pack of %d on %s failed; its members train alone", len(left), self.device)
            for job in left:
                self._member_done(pack, pack.order.index(job), self._train_alone(job))

    def _train_alone(self, job: TrainJob):
        # Any entry: one model, or a sweep's or an ensemble's variants (workers.training.variants,
        # which packs its own variants).
        from workers.training import train_entry

        try:
            return train_entry(
                job.config,
                job.data,
                device=self.device,
                on_epoch=job.on_epoch,
                budget=job.budget,
                out_dir=job.out_dir,
                should_stop=job.should_stop,
                metric=job.metric,
                pretrain_data=job.pretrain_data or None,
            )
        except Exception as exc:  # the entry's own outcome, reported by its thread
            return exc

    def _train_pack(self, members: list[TrainJob]) -> list:
        from workers.training.packed import train_packed
        from workers.training.result import TrainResult

        first = members[0]
        data = _with_metric(first.data, first.metric)
        first.out_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="podium-pack-", dir=first.out_dir.parent) as folder:
            try:
                outcomes = train_packed(
                    [_pack_member(job) for job in members],
                    data,
                    device=self.device,
                    weights_dir=Path(folder),
                )
            except Exception:
                # The engine failed the pack as a whole (not one member): each member gets
                # its own run rather than a failure it did not cause.
                log.exception("a pack of %d on %s failed; its members train alone", len(members), self.device)
                return [self._train_alone(job) for job in members]
            for job, outcome in zip(members, outcomes, strict=True):
                if isinstance(outcome, TrainResult) and outcome.weights_path is not None:
                    # The pack's folder goes with this call; each entry's weights go to its own.
                    job.out_dir.mkdir(parents=True, exist_ok=True)
                    outcome.weights_path = Path(
                        shutil.move(outcome.weights_path, job.out_dir / "weights.safetensors")
                    )
        return outcomes


def _pack_member(job: TrainJob):
    from workers.training.packed import PackMember

    return PackMember(job.config, job.budget, job.on_epoch, job.should_stop, metric=job.metric)


def _with_metric(data: TrainData, metric: str | None) -> TrainData:
    # The packed engine reads the competition's metric from the manifest.
    return dataclasses.replace(data, manifest={**data.manifest, "metric": metric}) if metric else data


def _torch_device(device: str):
    import torch

    return torch.device(device)


def _resolve(job: TrainJob, outcome) -> None:
    if job.future.done():
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)


def deterministic_for_the_process(device: str) -> None:
    """Deterministic kernels for every run of a trainer process, set once when it starts:
    `train()` switches them on and back to what it found, and with packs on several threads
    (PODIUM_WORKER_CONCURRENT_PACKS > 1) "what it found" would be another run's setting."""
    import os

    import torch

    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


# ---------------------------------------------------------------- one pool per device and process

_pools: dict[str, DevicePool] = {}
_pools_lock = threading.Lock()


def pool_for(device: str, settings: PoolSettings | None = None) -> DevicePool:
    """The process's pool of `device`, made on first use (with `settings`, else the environment's)."""
    with _pools_lock:
        pool = _pools.get(device)
        if pool is None:
            from workers.environment import device_label

            pool = _pools[device] = DevicePool(
                device, settings or PoolSettings.from_env(), device_name=device_label(device)
            )
        return pool


def pools() -> list[DevicePool]:
    with _pools_lock:
        return list(_pools.values())

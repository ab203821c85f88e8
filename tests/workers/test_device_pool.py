"""The device pool: entries gathered by architecture into packs, admitted by their memory
estimate against the device's free memory and the pack cap, trained by the real trainer, and
each member's outcome its own (a diverging, an over-budget or a cancelled member leaves its
pack mates' results as their solo runs give them)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import wait

import numpy as np
import pytest
import torch

from common.env import EnvError
from common.protocol import Budget
from tests.e2e.helpers import SLOW_CONFIG, TINY_CONFIG
from workers.device_pool import Cancelled, DevicePool, PoolSettings, TrainJob
from workers.spec import parse_config
from workers.training import CANCELLED, COMPLETED, BudgetExceeded, TrainError, train

WIDER = TINY_CONFIG.replace("units: 16", "units: 32")


def variant(text: str = TINY_CONFIG, *, seed: int = 0, lr: float = 0.01, epochs: int = 2) -> str:
    return (
        text.replace("seed: 0", f"seed: {seed}")
        .replace("lr: 0.01", f"lr: {lr}")
        .replace("epochs: 2", f"epochs: {epochs}")
    )


@pytest.fixture(scope="module")
def iris():
    from workers.data import load_dataset

    return load_dataset("iris")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_pool():
    made = []

    def make(**kwargs) -> DevicePool:
        options = {"gather_s": 0.5, "stats_interval_s": 0}
        options.update(kwargs.pop("settings", {}))
        pool = DevicePool("cpu", PoolSettings(**options), **kwargs)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()


@pytest.fixture
def make_job(iris, tmp_path):
    count = iter(range(1000))

    def make(text: str = TINY_CONFIG, **kwargs) -> TrainJob:
        n = next(count)
        records = []
        kwargs.setdefault("on_epoch", records.append)
        job = TrainJob(
            label=f"job{n}",
            config=parse_config(text),
            data=iris,
            data_key="iris",
            budget=kwargs.pop("budget", Budget()),
            out_dir=tmp_path / f"job{n}" / "out",
            **kwargs,
        )
        job.records = records
        return job

    return make


def pack_sizes(caplog) -> list[int]:
    """The size of each pack the pool trained, from its log."""
    found = (re.match(r"pack of (\d+) on ", r.getMessage()) for r in caplog.records)
    return sorted(int(m.group(1)) for m in found if m)


def run_all(pool: DevicePool, jobs: list[TrainJob], timeout: float = 120) -> list:
    """Submit `jobs` as a burst (the rest are on their way until the last is in), and wait."""
    with pool.arriving():
        futures = [pool.submit(job) for job in jobs]
    done, pending = wait(futures, timeout)
    assert not pending, "jobs still training"
    wait_until_idle(pool)
    return [f.exception() or f.result() for f in futures]


def wait_until_idle(pool: DevicePool, timeout: float = 10) -> None:
    """Until the pool's packs have ended (a member's future ends when it leaves its pack,
    the pack's log line comes when the last one has)."""
    deadline = time.monotonic() + timeout
    while pool.stats()["packs"]:
        assert time.monotonic() < deadline, "a pack still running"
        time.sleep(0.01)


def solo(job: TrainJob, iris):
    return train(job.config, iris, budget=job.budget)


def test_entries_of_one_architecture_train_as_one_pack_and_each_matches_its_solo_run(
    make_pool, make_job, iris, caplog
):
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool()
    same = [make_job(variant(seed=s, lr=lr)) for s, lr in ((0, 0.01), (1, 0.01), (2, 0.02), (3, 0.005))]
    other = make_job(variant(WIDER, seed=4))
    results = run_all(pool, [*same, other])

    assert pack_sizes(caplog) == [1, 4]  # the wider network is another architecture
    for job, result in zip([*same, other], results, strict=True):
        assert result.stopped_reason == COMPLETED, result
        assert [r["epoch"] for r in job.records] == [1, 2]  # its own epochs, to its own callback
        assert (job.out_dir / "weights.safetensors").is_file() and result.weights_path.parent == job.out_dir
        alone = solo(job, iris)
        # The stand-in engine trains members one by one (exact); the packed engine reorders sums.
        np.testing.assert_allclose(result.probabilities, alone.probabilities, rtol=1e-4, atol=1e-5)
        assert (result.predictions == alone.predictions).mean() >= 0.98
    stats = pool.stats()
    assert stats["packs_done"] == 2 and stats["entries_done"] == 5 and stats["mean_pack_size"] == 2.5
    assert stats["in_flight"] == 0 and stats["packs"] == []


def test_a_free_device_waits_for_entries_on_their_way_and_not_for_the_gather_window_alone(
    make_pool, make_job, caplog
):
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool(settings={"gather_s": 60})
    lone = make_job(variant(seed=0))
    started = time.monotonic()
    assert pool.submit(lone).result(30).stopped_reason == COMPLETED  # nothing else on its way
    assert time.monotonic() - started < 30
    first, second = make_job(variant(seed=1)), make_job(variant(seed=2))
    with pool.arriving():  # a second entry is being claimed
        futures = [pool.submit(first)]
        time.sleep(0.5)
        assert not first.started.is_set()
        futures.append(pool.submit(second))
    assert all(f.result(30).stopped_reason == COMPLETED for f in futures)
    wait_until_idle(pool)
    assert pack_sizes(caplog) == [1, 2]


def test_a_lone_entry_on_a_cpu_trains_alone_and_one_with_mates_on_their_way_in_an_open_pack(
    make_pool, make_job, iris, monkeypatch
):
    """On a CPU the packed engine costs a lone entry about twice its own step: with nothing on
    its way it trains through `train()` (exactly its solo run); with entries on their way it
    starts an open pack they can join."""
    from workers.training import packed

    engine_runs = []
    run = packed.Pack.run
    monkeypatch.setattr(packed.Pack, "run", lambda self, dirs: engine_runs.append(1) or run(self, dirs))
    pool = make_pool(settings={"gather_s": 0})
    lone = make_job(variant(seed=0))
    result = pool.submit(lone).result(30)
    assert engine_runs == []
    assert result.probabilities.tobytes() == solo(lone, iris).probabilities.tobytes()
    with pool.arriving():
        assert pool.submit(make_job(variant(seed=1))).result(30).stopped_reason == COMPLETED
    assert engine_runs == [1]


def test_packing_off_trains_every_entry_alone(make_pool, make_job, caplog):
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool(settings={"packing": False})
    results = run_all(pool, [make_job(variant(seed=s)) for s in range(3)])
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert pack_sizes(caplog) == [1, 1, 1]
    assert pool.stats()["packing"] is False


def test_a_config_without_a_pack_signature_trains_alone(make_pool, make_job, caplog):
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool(signature=lambda config, data: None)
    results = run_all(pool, [make_job(variant(seed=s)) for s in range(2)])
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert pack_sizes(caplog) == [1, 1]


def test_members_are_admitted_by_their_memory_estimate_against_the_free_memory(
    make_pool, make_job, iris, caplog
):
    from workers.admission import memory_estimate

    caplog.set_level("INFO", logger="workers.device_pool")
    peak = PeakTraining()
    jobs = [make_job(variant(seed=s, epochs=2 + s), on_epoch=peak.seen) for s in range(5)]
    estimate = memory_estimate(jobs[0].config, iris)
    # Room for the data and two and a half members: two at a time, the others taken in as
    # members leave (the pack stays open).
    fraction = 0.5
    free = int((estimate.data + 2.5 * estimate.member) / fraction)
    pool = peak.pool = make_pool(settings={"memory_fraction": fraction}, free_bytes=lambda device: free)
    results = run_all(pool, jobs)
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert peak.most == 2
    assert sum(pack_sizes(caplog)) == 5
    assert pool.stats()["memory_capacity_bytes"] == int(fraction * free)
    assert pool.stats()["memory_admitted_bytes"] == 0


def test_a_pack_holds_at_most_max_pack_members(make_pool, make_job, caplog):
    caplog.set_level("INFO", logger="workers.device_pool")
    peak = PeakTraining()
    pool = peak.pool = make_pool(settings={"max_pack": 3})
    results = run_all(pool, [make_job(variant(seed=s, epochs=2 + s), on_epoch=peak.seen) for s in range(5)])
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert peak.most == 3
    assert sum(pack_sizes(caplog)) == 5


class PeakTraining:
    """The most entries the pool had on the device at once, as its members' epochs saw it."""

    def __init__(self):
        self.pool: DevicePool | None = None
        self.most = 0

    def seen(self, record) -> None:
        self.most = max(self.most, self.pool.stats()["training"])


def test_entries_arriving_while_a_pack_trains_join_it_at_an_epoch_boundary(make_pool, make_job, iris, caplog):
    """A burst that reaches the device over time trains as one pack: the first entry starts
    alone (nothing else was on its way), the later ones join it, each from its own first
    epoch, with what its solo run gives; each future ends when its entry leaves."""
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool(settings={"gather_s": 0})
    first = make_job(variant(seed=0, epochs=30))
    later = [make_job(variant(seed=s, lr=0.02, epochs=3)) for s in (1, 2)]
    with pool.arriving():  # the others' tasks have started
        future = pool.submit(first)
        while len(first.records) < 2:  # the pack is under way
            time.sleep(0.005)
        futures = [pool.submit(job) for job in later]
    results = [f.result(30) for f in futures]
    assert not future.done()  # the short ones left before the long one ended
    assert future.result(30).stopped_reason == COMPLETED
    wait_until_idle(pool)
    assert pack_sizes(caplog) == [3]
    assert pool.stats()["packs_done"] == 1 and pool.stats()["entries_done"] == 3
    for job, result in zip([first, *later], [future.result(), *results], strict=True):
        assert [r["epoch"] for r in job.records] == list(range(1, result.epochs_run + 1))
        assert (job.out_dir / "weights.safetensors").is_file()
        alone = solo(job, iris)
        np.testing.assert_allclose(result.probabilities, alone.probabilities, rtol=1e-4, atol=1e-5)


def test_a_pack_takes_no_newcomer_younger_than_another_groups_waiting_entry(make_pool, make_job, caplog):
    """Fairness inside the process: an open pack never keeps a waiting entry of another
    architecture behind an endless stream of its own kind."""
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool(settings={"gather_s": 0})
    first = make_job(variant(seed=0, epochs=20))
    with pool.arriving():
        future = pool.submit(first)
        while len(first.records) < 1:
            time.sleep(0.005)
        other = make_job(variant(WIDER, seed=1))
        same = make_job(variant(seed=2))
        futures = [pool.submit(other), pool.submit(same)]
    assert all(f.result(30).stopped_reason == COMPLETED for f in [future, *futures])
    wait_until_idle(pool)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pack of")]
    assert [line.split(" (")[1].split(")")[0] for line in lines] == ["job0", "job1", "job2"]


def test_an_entry_over_the_capacity_still_trains_alone_on_an_idle_device(make_pool, make_job, caplog):
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool(free_bytes=lambda device: 0)
    results = run_all(pool, [make_job(variant(seed=s)) for s in range(2)])
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert pack_sizes(caplog) == [1, 1]
    assert "over the device's admission capacity" in caplog.text


def test_a_diverging_an_over_budget_and_a_cancelled_member_leave_their_mates_unharmed(
    make_pool, make_job, iris, caplog
):
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool()
    healthy = make_job(variant(seed=1, epochs=4))
    diverging = make_job(
        variant(seed=2, epochs=4).replace(
            "optimizer: {name: adam, lr: 0.01}", "optimizer: {name: sgd, lr: 10.0}"
        )
    )
    over_budget = make_job(variant(seed=3, epochs=4), budget=Budget(params=10))
    leave = threading.Event()
    cancelled = make_job(
        variant(seed=4, epochs=4), on_epoch=lambda record: leave.set(), should_stop=leave.is_set
    )
    results = run_all(pool, [healthy, diverging, over_budget, cancelled])

    assert pack_sizes(caplog) == [4]
    outcome = dict(zip(("healthy", "diverging", "over_budget", "cancelled"), results, strict=True))
    assert isinstance(outcome["diverging"], TrainError) and "diverged" in str(outcome["diverging"])
    assert isinstance(outcome["over_budget"], BudgetExceeded)
    assert outcome["cancelled"].stopped_reason == CANCELLED and outcome["cancelled"].epochs_run < 4
    assert outcome["healthy"].stopped_reason == COMPLETED and outcome["healthy"].epochs_run == 4
    alone = solo(healthy, iris)
    np.testing.assert_allclose(outcome["healthy"].probabilities, alone.probabilities, rtol=1e-4, atol=1e-5)
    assert [r["train_loss"] for r in healthy.records] == pytest.approx(
        [r["train_loss"] for r in alone.history], rel=1e-4
    )


def test_an_entry_cancelled_while_waiting_for_the_device_leaves_at_once(make_pool, make_job):
    pool = make_pool(settings={"gather_s": 0})
    stop_long, stop_waiting = threading.Event(), threading.Event()
    long = make_job(variant(SLOW_CONFIG, epochs=40), should_stop=stop_long.is_set)
    waiting = make_job(variant(WIDER), should_stop=stop_waiting.is_set)
    long_future = pool.submit(long)
    assert long.started.wait(30)
    waiting_future = pool.submit(waiting)
    time.sleep(0.3)
    assert not waiting.started.is_set() and pool.stats()["waiting"] == 1
    stop_waiting.set()
    with pytest.raises(Cancelled):
        waiting_future.result(2)  # while the long entry still trains
    assert not long_future.done()
    stop_long.set()
    assert long_future.result(30).stopped_reason == CANCELLED


def test_a_pack_the_engine_fails_as_a_whole_trains_its_members_alone(
    make_pool, make_job, monkeypatch, caplog
):
    from workers.training import packed

    def broken(self, out_dirs):
        raise RuntimeError("the packed step failed")

    monkeypatch.setattr(packed.Pack, "run", broken)
    caplog.set_level("INFO", logger="workers.device_pool")
    pool = make_pool()
    results = run_all(pool, [make_job(variant(seed=s)) for s in range(3)])
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert "a pack of 3 on cpu failed; its members train alone" in caplog.text


def test_pool_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PODIUM_WORKER_PACKING", "0")
    monkeypatch.setenv("PODIUM_WORKER_MAX_IN_FLIGHT", "32")
    monkeypatch.setenv("PODIUM_WORKER_GATHER_MS", "50")
    monkeypatch.setenv("PODIUM_WORKER_MEMORY_FRACTION", "0.5")
    settings = PoolSettings.from_env()
    assert (settings.packing, settings.max_in_flight, settings.gather_s, settings.memory_fraction) == (
        False,
        32,
        0.05,
        0.5,
    )
    for value, problem in (("1.5", "must be <= 1.0"), ("0", "must be > 0")):
        monkeypatch.setenv("PODIUM_WORKER_MEMORY_FRACTION", value)
        with pytest.raises(EnvError, match=f"PODIUM_WORKER_MEMORY_FRACTION={float(value)} {problem}"):
            PoolSettings.from_env()
    monkeypatch.setenv("PODIUM_WORKER_MEMORY_FRACTION", "0.5")
    monkeypatch.setenv("PODIUM_WORKER_MAX_PACK", "0")
    with pytest.raises(EnvError, match="PODIUM_WORKER_MAX_PACK=0 must be >= 1"):
        PoolSettings.from_env()

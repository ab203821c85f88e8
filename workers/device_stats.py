"""What a training device is doing, for the operator: its memory and utilisation (NVML on a
GPU, the process's CPU time and resident memory on a CPU), the line the worker logs once a
minute, and nothing that names an entry's content.

The figures reach the platform through a Celery inspect command (`common.protocol.
DEVICE_STATS_COMMAND`, answered in `workers.celery_app`): the worker stays Django-free and
writes nowhere; the status page asks the trainers when it measures.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from common.protocol import DeviceStats
from workers.admission import meminfo

log = logging.getLogger(__name__)


class UsageMeter:
    """Samples the device's memory and utilisation; on the CPU the utilisation is the
    process's CPU time since the previous sample (100 = one core busy the whole time)."""

    def __init__(self, device: str):
        self.device = device
        self._lock = threading.Lock()
        self._last = (time.monotonic(), _cpu_seconds())

    def sample(self) -> dict:
        if self.device.startswith("cuda"):
            return _gpu_usage(self.device)
        now, cpu = time.monotonic(), _cpu_seconds()
        with self._lock:
            then, cpu_then = self._last
            self._last = (now, cpu)
        wall = now - then
        return {
            "memory_used_bytes": _rss_bytes(),
            "memory_total_bytes": meminfo().get("MemTotal"),
            "utilisation_percent": round(100 * (cpu - cpu_then) / wall, 1) if wall > 0.05 else None,
        }


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> int | None:
    try:
        resident_pages = int(open("/proc/self/statm").read().split()[1])  # noqa: SIM115 - one read
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def _gpu_usage(device: str) -> dict:
    """NVML's figures through torch (which maps CUDA_VISIBLE_DEVICES to NVML's indices); the
    driver's free memory when nvidia-ml-py is not installed."""
    import torch

    dev = torch.device(device)
    free, total = torch.cuda.mem_get_info(dev)
    used, utilisation = total - free, None
    try:
        used = int(torch.cuda.device_memory_used(dev))
        utilisation = float(torch.cuda.utilization(dev))
    except Exception as exc:  # no pynvml (nvidia-ml-py), or NVML refuses: memory still known
        log.debug("NVML unavailable: %s", exc)
    return {
        "memory_used_bytes": int(used),
        "memory_total_bytes": int(total),
        "utilisation_percent": utilisation,
    }


def _megabytes(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:,.0f} MB"


def log_line(stats: DeviceStats) -> str:
    """One line for the worker's log: what the device holds, its packs, memory and utilisation."""
    packs = stats["packs"]
    training = f"{stats['training']} training" + (f" in packs of {packs}" if packs else "")
    mean = stats["mean_pack_size"]
    utilisation = stats["utilisation_percent"]
    return (
        f"device {stats['device']}: {stats['in_flight']} in flight ({stats['waiting']} waiting, {training}); "
        f"{stats['packs_done']} packs done, {stats['entries_done']} entries"
        + (f", mean pack {mean:g}" if mean is not None else "")
        + f"; memory {_megabytes(stats['memory_used_bytes'])} of {_megabytes(stats['memory_total_bytes'])}"
        + f", admitted {_megabytes(stats['memory_admitted_bytes'])} of {_megabytes(stats['memory_capacity_bytes'])}"
        + f"; utilisation {'?' if utilisation is None else f'{utilisation:g}%'}"
        + ("" if stats["packing"] else "; packing off")
    )


class StatsLogger:
    """Logs `log_line(stats())` every `interval` seconds from a daemon thread (0: never)."""

    def __init__(self, stats: Callable[[], DeviceStats], interval: float):
        self._stats = stats
        self.interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podium-device-stats", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                log.info("%s", log_line(self._stats()))
            except Exception:  # the figures are for the operator; training goes on
                log.exception("could not measure the device")

"""What the operator sees of a training device: the figures a pool gives (entries in flight,
packs and their sizes, memory, utilisation), the line the worker logs every interval, and the
process's CPU time and resident memory on a CPU."""

from __future__ import annotations

import logging
import time

import pytest

from common.protocol import DeviceStats
from workers.device_stats import StatsLogger, UsageMeter, log_line

FIGURES: DeviceStats = {
    "device": "cuda:0 (NVIDIA H200)",
    "packing": True,
    "in_flight": 70,
    "waiting": 6,
    "training": 64,
    "packs": [48, 16],
    "packs_done": 12,
    "entries_done": 700,
    "mean_pack_size": 58.3,
    "memory_admitted_bytes": 3 * 2**30,
    "memory_capacity_bytes": 110 * 2**30,
    "memory_used_bytes": 5 * 2**30,
    "memory_total_bytes": 140 * 2**30,
    "utilisation_percent": 87.0,
}


def test_the_log_line_says_what_the_device_holds():
    assert log_line(FIGURES) == (
        "device cuda:0 (NVIDIA H200): 70 in flight (6 waiting, 64 training in packs of [48, 16]); "
        "12 packs done, 700 entries, mean pack 58.3; memory 5,120 MB of 143,360 MB, "
        "admitted 3,072 MB of 112,640 MB; utilisation 87%"
    )
    idle = {
        **FIGURES,
        "device": "cpu",
        "packing": False,
        "in_flight": 0,
        "waiting": 0,
        "training": 0,
        "packs": [],
        "mean_pack_size": None,
        "memory_capacity_bytes": None,
        "utilisation_percent": None,
    }
    line = log_line(idle)
    assert line.startswith("device cpu: 0 in flight (0 waiting, 0 training); 12 packs done, 700 entries; ")
    assert "of ?" in line and line.endswith("utilisation ?; packing off")


def test_the_worker_logs_the_line_every_interval(caplog):
    caplog.set_level(logging.INFO, logger="workers.device_stats")
    logger = StatsLogger(lambda: FIGURES, 0.1)
    logger.start()
    time.sleep(0.45)
    logger.stop()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("device cuda:0")]
    assert 2 <= len(lines) <= 5 and lines[0] == log_line(FIGURES)


def test_a_failing_measure_is_logged_and_the_logger_goes_on(caplog):
    calls = []

    def stats():
        calls.append(1)
        raise RuntimeError("NVML went away")

    caplog.set_level(logging.INFO, logger="workers.device_stats")
    logger = StatsLogger(stats, 0.05)
    logger.start()
    time.sleep(0.3)
    logger.stop()
    assert len(calls) >= 2 and "could not measure the device" in caplog.text


def test_on_a_cpu_the_process_cpu_time_and_resident_memory():
    wall, cpu = time.monotonic(), time.process_time()
    meter = UsageMeter("cpu")
    end = cpu + 0.3
    while time.process_time() < end:  # keep one core busy (as much as a shared machine lets it)
        pass
    usage = meter.sample()
    busy = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)
    assert usage["utilisation_percent"] == pytest.approx(busy, rel=0.25)
    assert 0 < usage["memory_used_bytes"] < usage["memory_total_bytes"]

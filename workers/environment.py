"""Where a run trains: torch's CPU thread count, set one way by every runner (the Celery
worker's and `python -m workers.local`), and the environment recorded with the results.

The thread count changes the order of floating-point reductions, so the same config could
give other numbers on another worker machine; each entry says which count it ran with.
"""

from __future__ import annotations

import os

from common.env import env_int
from common.protocol import RunEnvironment, RunReport

THREADS_ENV = "PODIUM_WORKER_THREADS"


def threads_from_env() -> int:
    """PODIUM_WORKER_THREADS, or the CPUs this process may run on."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return env_int(THREADS_ENV, available, minimum=1)


def set_threads(threads: int) -> int:
    """Torch's intra-op CPU threads for the runs of this process; returns the count in force."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, not {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def device_label(device: str) -> str:
    """`cpu`, or `cuda:0 (NVIDIA H200)`: the device as entries and the status page name it."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


def run_environment(device: str, *, precision_asked: str, precision: str) -> RunEnvironment:
    import torch

    return {
        "torch": torch.__version__,
        "device": device_label(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "precision_asked": precision_asked,
    }


def run_report(result, *, precision_asked: str) -> RunReport:
    """A `workers.training.TrainResult` as the worker posts it with its predictions."""
    return {
        "environment": run_environment(
            result.device, precision_asked=precision_asked, precision=result.precision
        ),
        "stopped_reason": result.stopped_reason,
        "stop_message": result.stop_message,
        "notes": list(result.notes),
        **({"variants": result.variants} if getattr(result, "variants", None) else {}),
    }

"""Broker options both Celery apps use, and the one start-up check of task time limits.

`make run` needs no server: without CELERY_BROKER_URL both tiers use the filesystem
transport of `common.transports` in the same folders under PODIUM_VAR_DIR/broker. On Redis an unacknowledged
message goes to another worker after the visibility timeout, so a task's hard time
limit must stay below it or a long task runs twice.
"""

from __future__ import annotations

from pathlib import Path

from common.env import env_int, env_str

DEFAULT_VISIBILITY_TIMEOUT_S = 3600
FILESYSTEM_TRANSPORT = "common.transports:FilesystemTransport"
DEFAULT_TASK_TIME_LIMIT_S = 1800
# Transports that hand an unacknowledged message to another consumer after a timeout.
_REDELIVER_BY_TIMEOUT = ("redis://", "rediss://", "sentinel://", "sqs://")


class BrokerConfigError(RuntimeError):
    """A broker or time-limit setting is wrong; the message names the variable."""


def broker_url() -> str:
    return env_str("CELERY_BROKER_URL", "") or "filesystem://"


def broker_transport(url: str) -> str | None:
    """The kombu transport class for `url`, by name (Celery's `broker_transport`); None: kombu's own.

    The filesystem broker is read and written through `common.transports`, whose message
    files are written atomically (kombu's own can be read empty under a burst).
    """
    if url.startswith("filesystem://"):
        return FILESYSTEM_TRANSPORT
    return None


def transport_options(url: str, var_dir: Path) -> dict:
    if url.startswith("filesystem://"):
        broker = Path(var_dir) / "broker"
        return {
            "data_folder_in": str(broker / "queue"),
            "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"),
            "store_processed": False,
            # Exchange bindings; kombu's default is ./control in the working directory.
            "control_folder": str(broker / "control"),
        }
    return {
        "visibility_timeout": env_int("PODIUM_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT_S, minimum=60)
    }


def make_folders(options: dict) -> None:
    """The filesystem transport fails on a missing folder; whichever process starts first makes them."""
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = options.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


def task_time_limit() -> int:
    return env_int("PODIUM_TASK_TIME_LIMIT", DEFAULT_TASK_TIME_LIMIT_S, minimum=10)


def check_time_limit(url: str, options: dict, hard_limit: int | None) -> None:
    """Refuse a hard time limit that a task could outlive the visibility timeout with."""
    if not str(url).startswith(_REDELIVER_BY_TIMEOUT):
        return  # the filesystem transport and AMQP never redeliver by timeout
    visibility = (options or {}).get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT_S)
    if hard_limit is None:
        raise BrokerConfigError(
            f"no hard task time limit is set (PODIUM_TASK_TIME_LIMIT); it must be below the broker's "
            f"visibility timeout ({visibility} s), or a long task would be delivered twice"
        )
    if hard_limit >= visibility:
        raise BrokerConfigError(
            f"the hard task time limit (PODIUM_TASK_TIME_LIMIT={hard_limit}) must be below the broker's "
            f"visibility timeout (PODIUM_VISIBILITY_TIMEOUT={visibility}); lower the one or raise the other, "
            "otherwise the broker hands a running task to a second worker"
        )

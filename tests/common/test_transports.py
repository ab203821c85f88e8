"""The filesystem broker under a burst, with real producer and consumer processes.

kombu's own filesystem channel makes a message file visible before writing it; a
consumer that polls under a burst moves an empty file away and dies with a
JSONDecodeError (how the scorer of `make run` died). common.transports writes files
whole and claims them atomically: every message arrives exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.broker import FILESYSTEM_TRANSPORT, broker_transport

ROOT = Path(__file__).resolve().parents[2]
# bench/broker_faults.py runs the same burst with many more messages.
PRODUCERS = 4
PER_PRODUCER = int(os.environ.get("PODIUM_STRESS_BURST_PER_PRODUCER", "300"))
CONSUMERS = 3


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.common.broker_burst", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def burst(folder: Path, transport: str, *, producers: int, per_producer: int, consumers: int) -> list[str]:
    """Every tag the consumers received; fails with a consumer's traceback."""
    stop = folder / "stop"
    readers = [_start("consume", str(folder), transport, str(stop), "600") for _ in range(consumers)]
    writers = [
        _start("produce", str(folder), transport, f"p{n}", str(per_producer)) for n in range(producers)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=900)
        assert writer.returncode == 0, err
    stop.touch()
    received: list[str] = []
    for reader in readers:
        out, err = reader.communicate(timeout=900)
        assert reader.returncode == 0, err
        received += out.split()
    return received


def test_both_celery_apps_use_the_atomic_transport_on_the_filesystem_broker():
    assert broker_transport("filesystem://") == FILESYSTEM_TRANSPORT
    assert broker_transport("redis://127.0.0.1:6379/0") is None
    # Both tiers' Celery apps, built as their processes build them on the embedded default.
    code = (
        "import django; django.setup()\n"
        "from common.transports import FilesystemTransport\n"
        "from podium.celery import app\n"
        "from workers.celery_app import app as workers_app\n"
        "for a in (app, workers_app):\n"
        "    assert isinstance(a.connection_for_write().transport, FilesystemTransport), a\n"
        "    assert isinstance(a.connection_for_read().transport, FilesystemTransport), a\n"
    )
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "",
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")]),
    }
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_filesystem_connection_says_nothing_of_a_hostname(tmp_path, caplog):
    """kombu's virtual transports default to "localhost"; folders have no host, and `make run`'s
    workers said "No hostname was supplied" for every connection they opened."""
    from kombu import Connection

    caplog.set_level("WARNING", logger="kombu.connection")
    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}
    with Connection("filesystem://", transport=FILESYSTEM_TRANSPORT, transport_options=options) as conn:
        conn.clone().close()
    assert not [r for r in caplog.records if "hostname" in r.getMessage()]


@pytest.mark.slow
def test_a_burst_through_the_filesystem_broker_delivers_every_message_once(tmp_path):
    received = burst(
        tmp_path, FILESYSTEM_TRANSPORT, producers=PRODUCERS, per_producer=PER_PRODUCER, consumers=CONSUMERS
    )
    expected = {f"p{n}-{i}" for n in range(PRODUCERS) for i in range(PER_PRODUCER)}
    assert sorted(received) == sorted(expected)  # each once: no loss, no double delivery
    leftovers = [p.name for p in (tmp_path / "broker").rglob("*") if p.is_file() and "exchange" not in p.name]
    assert leftovers == []


def test_a_file_that_is_not_a_whole_message_is_set_aside_not_fatal(tmp_path, caplog):
    """A truncated file (a foreign writer, a full disk) costs that file, logged, not the consumer."""
    from tests.common.broker_burst import QUEUE, _connection, _queue

    with _connection(str(tmp_path), FILESYSTEM_TRANSPORT) as conn:
        queue = conn.SimpleQueue(_queue())
        # Named to sort before every real message (their names start with the monotonic clock's
        # milliseconds, never 0), so the consumer meets it first whatever the machine's uptime.
        (tmp_path / "broker" / "queue" / f"0_cut.{QUEUE}.msg").write_bytes(b'{"body": "trunc')
        queue.put({"tag": "whole"})
        with caplog.at_level("ERROR", logger="common.transports"):
            message = queue.get(timeout=10)
        assert message.payload == {"tag": "whole"}
        message.ack()
    assert "is not a whole message (15 bytes)" in caplog.text
    assert (tmp_path / "broker" / "processed" / f"0_cut.{QUEUE}.msg.unreadable").exists()

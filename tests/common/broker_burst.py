"""A producer or a consumer process on the filesystem broker, for tests/common/test_transports.py
and bench/broker_faults.py: real processes, real files, kombu's own API.

    python -m tests.common.broker_burst produce FOLDER TRANSPORT TAG COUNT
    python -m tests.common.broker_burst consume FOLDER TRANSPORT STOP_FILE TIMEOUT_S

The consumer takes messages until STOP_FILE exists and the queue is empty, then prints
the tags it received; a transport error kills it with a traceback (what killed the
scorer under a burst).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from queue import Empty

from kombu import Connection, Exchange, Queue

from common.broker import make_folders, transport_options

QUEUE = "burst"
# Big enough that writing a message file takes a measurable moment, as a real task does not.
PADDING = "x" * 20_000


def _connection(folder: str, transport: str) -> Connection:
    options = transport_options("filesystem://", Path(folder))
    make_folders(options)
    return Connection("filesystem://", transport=transport, transport_options=options)


def _queue() -> Queue:
    return Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)


def produce(folder: str, transport: str, tag: str, count: int) -> None:
    with _connection(folder, transport) as conn:
        producer = conn.Producer()
        for i in range(count):
            producer.publish(
                {"tag": f"{tag}-{i}", "padding": PADDING},
                exchange=_queue().exchange,
                routing_key=QUEUE,
                declare=[_queue()],
                serializer="json",
            )


def consume(folder: str, transport: str, stop_file: str, timeout: float) -> None:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with _connection(folder, transport) as conn:
        queue = conn.SimpleQueue(_queue())
        while time.monotonic() < deadline:
            stopping = Path(stop_file).exists()
            try:
                message = queue.get(block=True, timeout=0.05)
            except Empty:
                if stopping:
                    break
                continue
            seen.append(message.payload["tag"])
            message.ack()
    print("\n".join(seen))


if __name__ == "__main__":
    role, folder, transport, *rest = sys.argv[1:]
    if role == "produce":
        produce(folder, transport, rest[0], int(rest[1]))
    else:
        consume(folder, transport, rest[0], float(rest[1]))

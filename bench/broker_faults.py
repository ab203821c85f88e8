"""The broker fault stress tests at full length (the suite runs short versions of them).

1. the filesystem broker under a burst: 4 producer and 3 consumer processes, 4 x 5,000
   messages (tests/common/test_transports.py); every message delivered exactly once;
2. Redis restarted 60 times under a light stream of CSV entries, with gunicorn, the
   scorer, the maintenance worker and beat (tests/e2e/test_supervision.py): every entry
   ends scored or failed with a reason; prints how many times a process died and was
   started again (the kombu race of docs/operations.md, "Broker faults").

    python bench/broker_faults.py [--restarts 60] [--burst 5000]

Needs PostgreSQL (DATABASE_URL) and redis-server, as the end-to-end tests do.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--restarts", type=int, default=60)
    parser.add_argument("--burst", type=int, default=5000)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")]),
        "PODIUM_STRESS_BROKER_RESTARTS": str(args.restarts),
        "PODIUM_STRESS_BURST_PER_PRODUCER": str(args.burst),
    }
    tests = [
        "tests/common/test_transports.py::test_a_burst_through_the_filesystem_broker_delivers_every_message_once",
        "tests/e2e/test_supervision.py::test_a_stream_of_entries_through_broker_restarts_all_end_scored_or_failed",
    ]
    run = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", "--timeout", "3600", *tests]
    return subprocess.run(run, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())

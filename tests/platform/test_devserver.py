"""`make run`'s launcher keeps the platform up: a killed process comes back, with a line
that says what died and how; Ctrl-C still stops everything.

Real processes: the launcher's own supervision loop over the real maintenance worker
(a Celery worker of the web tier, on the filesystem broker in a temporary folder).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.devserver import commands, how_it_ended

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _wait_for(path: Path, pattern: str, timeout: float, since: int = 0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace")[since:])
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in {timeout:.0f} s:\n{path.read_text(errors='replace')[-4000:]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_how_a_process_ended_is_said_in_words():
    assert how_it_ended(-signal.SIGKILL) == "killed by signal SIGKILL"
    assert how_it_ended(1) == "exit code 1"


def test_the_launcher_starts_the_maintenance_worker_apart_from_the_scorer():
    cmds = commands("127.0.0.1", 8000)
    assert set(cmds) == {"web", "scorer", "maintenance", "trainer", "beat"}
    queue = lambda argv: argv[argv.index("-Q") + 1]  # noqa: E731
    assert queue(cmds["scorer"]) == "scoring"
    assert queue(cmds["maintenance"]) == "maintenance"


def test_a_killed_process_is_restarted_with_a_log_line_and_ctrl_c_stops_everything(tmp_path):
    log_path = tmp_path / "run.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "CELERY_BROKER_URL": "",
        "PODIUM_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    code = (
        "import os, sys\n"
        "from podium.devserver import commands, supervise\n"
        "sys.exit(supervise({'maintenance': commands('127.0.0.1', 0)['maintenance']}, os.environ))\n"
    )
    with open(log_path, "wb") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        first = int(_wait_for(log_path, r"started maintenance \(pid (\d+)\)", 30).group(1))
        _wait_for(log_path, r"\.> maintenance +exchange=maintenance", 90)
        mark = log_path.stat().st_size
        os.kill(first, signal.SIGKILL)

        _wait_for(log_path, rf"maintenance \(pid {first}\) died: killed by signal SIGKILL", 10, mark)
        second = int(_wait_for(log_path, r"started maintenance \(pid (\d+)\)", 15, mark).group(1))
        assert second != first
        _wait_for(log_path, r"\.> maintenance +exchange=maintenance", 90, mark)
        assert launcher.poll() is None, "the launcher must outlive a crashed child"

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=30) == 0
        _wait_for(log_path, r"podium: stopped", 1)
        assert not _alive(second)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_the_demo_accounts_are_said_again_once_everything_runs(tmp_path):
    """`make run`'s workers print long banners as they start; the accounts come after them."""
    flag = tmp_path / "worker-started"
    worker = (
        f"print('WORKER BANNER', flush=True); open({str(flag)!r}, 'w').close(); import time; time.sleep(120)"
    )
    script = f"""
import os, sys
from pathlib import Path
from podium.devserver import ready_banner, supervise
sys.exit(supervise({{"worker": [sys.executable, "-c", {worker!r}]}}, os.environ, "started",
                   ready=lambda: Path({str(flag)!r}).exists(), ready_banner=ready_banner("127.0.0.1", 8123)))
"""
    log = tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _wait_for(log, r"admin +username=admin password=podium-admin", 60)
        finally:
            launcher.send_signal(signal.SIGTERM)
            launcher.wait(30)
    text = log.read_text()
    assert text.index("WORKER BANNER") < text.index("ready: http://127.0.0.1:8123/")
    assert "participant  username=demo password=podium-demo" in text
    assert text.count("username=demo") == 1  # once, when ready

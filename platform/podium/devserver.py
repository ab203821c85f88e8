"""`make run`: start the whole platform on one machine, keep it running, stop it all on Ctrl-C.

Starts the web server (gunicorn), the scorer (Celery, queue `scoring`), the
maintenance worker (beat's reaper and reveal, queue `maintenance`), the Django-free
trainer (Celery, queues `gpu` and `cpu`) and beat, on the embedded defaults unless the
environment points elsewhere. A process that dies is started again after a backoff
(1 s, doubling up to 30 s, back to 1 s once it has stayed up a minute), with a line
that says which one died and how (exit code or signal): one crash never takes the
site down. Ctrl-C (or SIGTERM) stops every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from common.protocol import MAINTENANCE_QUEUE, SCORING_QUEUE, TRAIN_QUEUES
from podium.competitions.demo import ADMIN, DEMO

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# A process that ran this long before dying starts again after the first backoff.
STABLE_AFTER_S = 60.0
STOP_GRACE_S = 15.0
POLL_S = 0.2
READY_POLL_S = 1.0
# Celery prints its start-up banner within seconds of starting; the accounts come after them.
WORKER_BANNERS_S = 8.0


def commands(host: str, port: int) -> dict[str, list[str]]:
    var_dir = Path(os.environ.get("PODIUM_VAR_DIR", ROOT / "var"))
    celery = str(BIN / "celery")
    return {
        "web": [
            str(BIN / "gunicorn"),
            "--config",
            "python:podium.gunicorn_conf",
            "podium.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("PODIUM_WEB_WORKERS", "2"),
            "--access-logfile",
            "-",
        ],
        "scorer": [celery, "-A", "podium", "worker", "-Q", SCORING_QUEUE, "-c", "1", "-n", "scorer@%h"],
        # The reaper must run while the scorer is down: its own queue, one light process.
        "maintenance": [
            celery,
            "-A",
            "podium",
            "worker",
            "-Q",
            MAINTENANCE_QUEUE,
            "--pool",
            "solo",
            "-n",
            "maintenance@%h",
        ],
        "trainer": [
            celery,
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            ",".join(TRAIN_QUEUES),
            "-n",
            "trainer@%h",
        ],
        "beat": [celery, "-A", "podium", "beat", "-s", str(var_dir / "celerybeat-schedule")],
    }


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def say(message: str) -> None:
    print(f"podium: {message}", flush=True)


class Child:
    """One supervised process, in its own process group (Ctrl-C reaches it through us)."""

    def __init__(self, name: str, cmd: list[str], env: Mapping[str, str]):
        self.name = name
        self.cmd = cmd
        self.env = dict(env)
        self.popen: subprocess.Popen | None = None
        self.started_at = 0.0
        self.backoff = FIRST_BACKOFF_S
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        self.popen = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None
        say(f"started {self.name} (pid {self.popen.pid})")

    def check(self, now: float) -> None:
        """Notice a death and schedule the restart; start it again when its backoff is over."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                self.start()
            return
        if self.popen is None or self.popen.poll() is None:
            return
        self._kill_group(signal.SIGKILL)  # what it left behind (a pool process) goes with it
        if now - self.started_at >= STABLE_AFTER_S:
            self.backoff = FIRST_BACKOFF_S
        say(
            f"{self.name} (pid {self.popen.pid}) died: {how_it_ended(self.popen.returncode)} after "
            f"{now - self.started_at:.0f} s; restarting it in {self.backoff:.0f} s"
        )
        self.restart_at = now + self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_S)

    def _kill_group(self, sig: int) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self._kill_group(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in time; killing it")
            self._kill_group(signal.SIGKILL)
            self.popen.wait()
        self._kill_group(signal.SIGKILL)


def supervise(
    cmds: Mapping[str, list[str]],
    env: Mapping[str, str],
    banner: str = "",
    *,
    ready: Callable[[], bool] | None = None,
    ready_banner: str = "",
) -> int:
    """Run `cmds` until SIGINT or SIGTERM, restarting any that dies; 0 after a clean stop.
    `ready_banner` is said once `ready()` first answers True (asked every READY_POLL_S)."""
    stopping = False
    next_ready_poll = 0.0 if ready is not None and ready_banner else None

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = [Child(name, cmd, env) for name, cmd in cmds.items()]
    for child in children:
        child.start()
    if banner:
        say(banner)
    while not stopping:
        now = time.monotonic()
        for child in children:
            child.check(now)
        if next_ready_poll is not None and now >= next_ready_poll:
            if ready():
                say(ready_banner)
                next_ready_poll = None
            else:
                next_ready_poll = now + READY_POLL_S
        time.sleep(POLL_S)

    say("stopping")
    for child in children:
        child.stop()
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        child.wait(deadline)
    say("stopped")
    return 0


def main() -> int:
    host = os.environ.get("PODIUM_HOST", "127.0.0.1")
    port = int(os.environ.get("PODIUM_PORT", "8000"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    env.setdefault("PODIUM_API_URL", f"http://{host}:{port}")
    env.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
    (ROOT / "var" / "broker").mkdir(parents=True, exist_ok=True)
    banner = f"open http://{host}:{port}/  (API: /api/, docs: /api/docs/, admin: /admin/)"
    started = time.monotonic()

    def ready() -> bool:
        # The workers print their banners as they start; the site's answer comes first, so
        # the accounts are said again once it answers and the workers have had their time.
        return time.monotonic() - started >= WORKER_BANNERS_S and _answers(f"http://{host}:{port}/healthz")

    return supervise(commands(host, port), env, banner, ready=ready, ready_banner=ready_banner(host, port))


def ready_banner(host: str, port: int) -> str:
    """What a newcomer needs once everything runs: where, and the demo accounts."""
    return "\n".join(
        [
            f"ready: http://{host}:{port}/  (status: /status/, API docs: /api/docs/, admin: /admin/)",
            f"  participant  username={DEMO[0]} password={DEMO[1]}",
            f"  admin        username={ADMIN[0]} password={ADMIN[1]}",
            "  next: log in, create an API token on your account page, then `podium login` (README: first submission)",
        ]
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())

"""Real processes for the end-to-end tests: a private redis-server, gunicorn, the
Django-aware scorer, the Django-free trainer, the maintenance worker and beat, all pointed at the test
database and stopped by the test.

Nothing here is a stand-in: the processes are the ones `make run` starts, with
short heartbeat and reaper periods set through the environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from common.protocol import MAINTENANCE_QUEUE

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    if not predicate():
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def database_url(settings_dict: dict) -> str:
    """The URL of the test database the test process is using, for the subprocesses."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"


class Proc:
    """One child process in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict, log_dir: Path):
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        log.write(f"\n===== start {' '.join(self.cmd)}\n".encode())
        log.flush()
        self.popen = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._log_handle = log
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_mark(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def wait_for_log(self, text: str, timeout: float, *, since: int = 0) -> None:
        def seen() -> bool:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            with open(self.log_path, "rb") as handle:
                handle.seek(since)
                return text.encode() in handle.read()

        wait_until(seen, timeout, f"{self.name} to log {text!r}\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole group: a Celery worker's pool children go with it."""
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 3.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Children left in the group (a pool process) must not outlive the test.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log_handle.close()


class RedisServer:
    """A redis-server of the test's own that keeps nothing on disk: a restart loses every message."""

    def __init__(self, workdir: Path, log_dir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc = Proc(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            dict(os.environ),
            log_dir,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> RedisServer:
        self.proc.start()
        wait_until(self.ping, 15, f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        self.proc.stop()
        wait_until(lambda: not self.ping(), 10, "redis-server to stop")


class Platform:
    """The web server, scorer, trainer(s) and beat of one test."""

    def __init__(
        self, *, tmp: Path, db_url: str, broker_url: str, cache_url: str, media_root: Path, extra_env=None
    ):
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = tmp / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        var = tmp / "var"
        var.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "podium.settings",
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": broker_url,
            "CACHE_URL": cache_url,
            "PODIUM_VAR_DIR": str(var),
            "PODIUM_MEDIA_ROOT": str(media_root),
            "PODIUM_API_URL": self.url,
            "PODIUM_PUBLIC_URL": self.url,
            "PODIUM_ENV": "test",
            # Fast failure detection for the tests: the reaper runs every second and
            # considers a worker lost after 5 s without a heartbeat.
            "PODIUM_HEARTBEAT_TIMEOUT_S": "5",
            "PODIUM_HEARTBEAT_INTERVAL_S": "1",
            "PODIUM_REAPER_INTERVAL_S": "1",
            # Long enough that an entry waiting behind a busy trainer on a loaded machine is
            # not taken for lost (the reaper requeues on this timeout, then gives up).
            "PODIUM_QUEUED_TIMEOUT_S": "15",
            "PODIUM_MAX_ATTEMPTS": "6",
            "PODIUM_VISIBILITY_TIMEOUT": "3600",
            "PODIUM_TASK_TIME_LIMIT": "600",
            "PODIUM_LOG_LEVEL": "INFO",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.env.pop("PODIUM_CELERY_EAGER", None)
        self.procs: dict[str, Proc] = {}
        self._trainers = 0

    # --- processes ------------------------------------------------------------
    def _proc(self, name: str, cmd: list[str], env: dict | None = None) -> Proc:
        proc = Proc(name, cmd, {**self.env, **(env or {})}, self.log_dir)
        self.procs[name] = proc
        return proc.start()

    def start_web(self, *, workers: int = 2, threads: int = 4) -> Proc:
        proc = self._proc(
            "web",
            [
                str(BIN / "gunicorn"),
                "--config",
                "python:podium.gunicorn_conf",
                "podium.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--graceful-timeout",
                "2",
            ],
        )
        wait_until(self._web_up, 30, f"gunicorn on {self.url}\n{proc.tail()}", interval=0.2)
        return proc

    def _web_up(self) -> bool:
        try:
            httpx.get(self.url + "/api/competitions/", timeout=1.0)
            return True
        except httpx.HTTPError:
            if "web" in self.procs and not self.procs["web"].alive:
                raise RuntimeError(f"gunicorn exited:\n{self.procs['web'].tail()}") from None
            return False

    def start_scorer(self, name: str = "scorer", *, faults_armed_by: Path | None = None) -> Proc:
        """The scorer; with `faults_armed_by`, its pool process dies once while scoring
        when that file exists (tests/e2e/podium_e2e_faults.py)."""
        env, extra = {}, []
        if faults_armed_by is not None:
            env = {
                "PYTHONPATH": os.pathsep.join([self.env["PYTHONPATH"], str(Path(__file__).parent)]),
                "PODIUM_E2E_SCORER_CRASH_FILE": str(faults_armed_by),
            }
            extra = ["--include", "podium_e2e_faults"]
        proc = self._proc(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "podium",
                "worker",
                "-Q",
                "scoring",
                "-c",
                "1",
                "-n",
                f"{name}-{self.port}@%h",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
                *extra,
            ],
            env,
        )
        proc.wait_for_log(" ready.", 60)
        return proc

    def start_trainer(self, env: dict | None = None) -> Proc:
        """A trainer as deployed: one process, its threads holding PODIUM_WORKER_MAX_IN_FLIGHT
        entries for its device pool (`env` adds or overrides variables, e.g. packing off)."""
        self._trainers += 1
        name = f"trainer{self._trainers}"
        proc = self._proc(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "-Q",
                "gpu,cpu",
                "-n",
                f"{name}-{self.port}@%h",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
            ],
            env,
        )
        proc.wait_for_log(" ready.", 60)
        return proc

    def start_maintenance(self) -> Proc:
        """The worker of beat's periodic tasks (the reaper, the reveal), as `make run` starts it."""
        proc = self._proc(
            "maintenance",
            [
                str(BIN / "celery"),
                "-A",
                "podium",
                "worker",
                "-Q",
                MAINTENANCE_QUEUE,
                "--pool",
                "solo",
                "-n",
                f"maintenance-{self.port}@%h",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
            ],
        )
        proc.wait_for_log(" ready.", 60)
        return proc

    def start_beat(self) -> Proc:
        proc = self._proc(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "podium",
                "beat",
                "-s",
                str(self.tmp / "var" / "celerybeat-schedule"),
                "-l",
                "INFO",
            ],
        )
        proc.wait_for_log("beat: Starting", 60)
        return proc

    def start_all(self) -> Platform:
        self.start_web()
        self.start_scorer()
        self.start_trainer()
        self.start_maintenance()
        self.start_beat()
        return self

    def stop(self) -> None:
        # All at once: a warm shutdown of each in turn would cost seconds per process.
        procs = list(self.procs.values())
        for proc in procs:
            proc.kill(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in procs:
            proc.stop(timeout=max(0.1, deadline - time.monotonic()))

    def logs(self) -> str:
        return "\n".join(f"----- {name}\n{proc.tail(40)}" for name, proc in self.procs.items())

"""`make run`: start the whole platform on one machine and stop it all on Ctrl-C.

Starts the web server (gunicorn), the scorer (Celery, queue `scoring`), the
Django-free trainer (Celery, queues `gpu` and `cpu`) and beat, on the embedded
defaults unless the environment points elsewhere. If one process dies the rest
are stopped too, so a half-running platform is never left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.protocol import SCORING_QUEUE, TRAIN_QUEUES

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def commands(host: str, port: int) -> dict[str, list[str]]:
    var_dir = Path(os.environ.get("PODIUM_VAR_DIR", ROOT / "var"))
    return {
        "web": [
            str(BIN / "gunicorn"),
            "podium.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("PODIUM_WEB_WORKERS", "2"),
            "--threads",
            "4",
            "--access-logfile",
            "-",
        ],
        "scorer": [
            str(BIN / "celery"),
            "-A",
            "podium",
            "worker",
            "-Q",
            SCORING_QUEUE,
            "-c",
            "1",
            "-n",
            "scorer@%h",
        ],
        "trainer": [
            str(BIN / "celery"),
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            ",".join(TRAIN_QUEUES),
            "-c",
            "1",
            "-n",
            "trainer@%h",
        ],
        "beat": [str(BIN / "celery"), "-A", "podium", "beat", "-s", str(var_dir / "celerybeat-schedule")],
    }


def main() -> int:
    host = os.environ.get("PODIUM_HOST", "127.0.0.1")
    port = int(os.environ.get("PODIUM_PORT", "8000"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    env.setdefault("PODIUM_API_URL", f"http://{host}:{port}")
    env.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
    (ROOT / "var" / "broker").mkdir(parents=True, exist_ok=True)

    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands(host, port).items():
        # Own process group each, so Ctrl-C reaches them through us, in order.
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        print(f"podium: started {name} (pid {procs[name].pid})", flush=True)
    print(f"podium: open http://{host}:{port}/  (API: /api/, docs: /api/docs/, admin: /admin/)", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"podium: {name} exited with {proc.returncode}; stopping the rest", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)

    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"podium: {name} did not stop in time; killing it", flush=True)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print("podium: stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

"""The compute tier's Celery app: the reliability settings, the same broker folders and
queue bindings as the web tier, and the start-up check of the time limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "PODIUM_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "platform"), str(ROOT)])
    env.update(extra)
    return env


def _probe(code: str, **env) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=_env(**env), timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


WORKER_CONF = """
import json, sys
from workers.celery_app import app
c = app.conf
queues = {q.name: [q.exchange.name, q.routing_key] for q in c.task_queues}
print(json.dumps({
  "acks_late": c.task_acks_late, "reject_on_worker_lost": c.task_reject_on_worker_lost,
  "prefetch": c.worker_prefetch_multiplier, "serializer": c.task_serializer, "accept": list(c.accept_content),
  "time_limit": c.task_time_limit, "soft": c.task_soft_time_limit, "broker": c.broker_url,
  "options": c.broker_transport_options, "queues": queues,
  "django": "django.conf" in sys.modules and "podium" in sys.modules,
}))
"""

WEB_CONF = """
import json, django
django.setup()
from django.conf import settings
from podium.celery import app
app.loader.import_default_modules()
queues = {n: [app.amqp.queues[n].exchange.name, app.amqp.queues[n].routing_key] for n in ("gpu", "cpu")}
route = app.amqp.router.route({}, "workers.tasks.train_submission", args=(), kwargs={})["queue"]
print(json.dumps({"options": settings.CELERY_BROKER_TRANSPORT_OPTIONS, "queues": queues,
                  "route": [route.name, route.exchange.name, route.routing_key]}))
"""


def test_reliability_settings_and_the_web_tiers_broker_folders(tmp_path):
    var = str(tmp_path / "var")
    worker = _probe(WORKER_CONF, PODIUM_VAR_DIR=var)
    web = _probe(WEB_CONF, PODIUM_VAR_DIR=var, DJANGO_SETTINGS_MODULE="podium.settings")
    assert worker["acks_late"] and worker["reject_on_worker_lost"]
    assert worker["prefetch"] == 1
    assert worker["serializer"] == "json" and worker["accept"] == ["json"]
    assert worker["soft"] < worker["time_limit"]
    assert not worker["django"]
    # The embedded default: the same filesystem folders the web tier writes to.
    assert worker["broker"].startswith("filesystem://")
    assert worker["options"] == web["options"]
    assert Path(worker["options"]["data_folder_in"]).is_dir()
    # What the web tier sends to `gpu`/`cpu` reaches the queues the worker consumes.
    assert web["queues"] == {k: v for k, v in worker["queues"].items() if k in ("gpu", "cpu")}
    assert web["route"] == ["gpu", *worker["queues"]["gpu"]]


def test_redis_broker_uses_the_visibility_timeout_from_the_environment():
    conf = _probe(
        WORKER_CONF,
        CELERY_BROKER_URL="redis://127.0.0.1:6379/9",
        PODIUM_VISIBILITY_TIMEOUT="900",
        PODIUM_TASK_TIME_LIMIT="600",
    )
    assert conf["options"] == {"visibility_timeout": 900}
    assert conf["time_limit"] == 600


def _start_worker(tmp_path, **env):
    return subprocess.run(
        [
            CELERY,
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            "gpu,cpu",
            "-c",
            "1",
            "--without-mingle",
            "--without-gossip",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=_env(PODIUM_VAR_DIR=str(tmp_path), **env),
    )


def test_worker_refuses_to_start_when_a_task_could_outlive_the_visibility_timeout(tmp_path):
    # The check runs before the worker connects: no broker needs to be listening.
    out = _start_worker(
        tmp_path,
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
        PODIUM_VISIBILITY_TIMEOUT="600",
        PODIUM_TASK_TIME_LIMIT="600",
    )
    assert out.returncode != 0
    assert (
        "podium worker refuses to start: the hard task time limit (PODIUM_TASK_TIME_LIMIT=600) must be below "
        "the broker's visibility timeout (PODIUM_VISIBILITY_TIMEOUT=600)"
    ) in out.stderr


def test_worker_refuses_a_malformed_setting_naming_the_variable(tmp_path):
    out = _start_worker(tmp_path, PODIUM_TASK_TIME_LIMIT="ten minutes")
    assert out.returncode != 0
    assert "environment variable PODIUM_TASK_TIME_LIMIT='ten minutes' is not an integer" in out.stderr

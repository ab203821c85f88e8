"""Beat's periodic tasks go to their own queue: the reaper never waits behind the scorer it rescues."""

from __future__ import annotations

from common.protocol import MAINTENANCE_QUEUE, REAP_TASK, REVEAL_TASK, SCORE_TASK, SCORING_QUEUE
from podium.celery import app


def _queue(task: str) -> str:
    return app.amqp.router.route({}, task)["queue"].name


def test_the_reaper_and_the_reveal_go_to_the_maintenance_queue():
    assert _queue(REAP_TASK) == MAINTENANCE_QUEUE
    assert _queue(REVEAL_TASK) == MAINTENANCE_QUEUE
    assert _queue(SCORE_TASK) == SCORING_QUEUE


def test_beat_sends_them_there():
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert schedule["submissions-reap-stale"]["options"]["queue"] == MAINTENANCE_QUEUE
    assert schedule["leaderboards-reveal-due"]["options"]["queue"] == MAINTENANCE_QUEUE
    assert MAINTENANCE_QUEUE in {q.name for q in app.conf.task_queues}

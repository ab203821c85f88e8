"""Processes die; the platform still finishes every entry.

- The reaper runs on its own worker (queue `maintenance`): while the scorer is down it
  keeps re-sending an entry stuck in `scoring`, and the entry is scored once a scorer is back.
- Broker restarts under a light stream of entries: the scorer may lose its connection at
  any moment (on kombu 5.7 a restart just after a delivery can even kill it, see
  docs/operations.md); with the scorer supervised as `make run` does, every entry still
  ends scored or failed with a reason. The long version is bench/broker_faults.py.
"""

from __future__ import annotations

import os
import time

import pytest

from podium_client.client import PodiumClient
from tests.e2e.helpers import iris_truth, predictions_csv, wait_final, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_reaper_runs_while_the_scorer_is_down(private_redis, make_platform, competition, participant):
    from podium.submissions.models import Submission

    platform = make_platform(broker="redis", redis=private_redis)
    platform.start_web()
    platform.start_maintenance()
    platform.start_beat()
    _, token = participant
    with PodiumClient(platform.url, token, timeout=30) as client:
        entry = client.submit_bytes(competition.slug, csv=predictions_csv(iris_truth()))
        # No scorer: only the reaper, on its own worker, can touch the entry.
        wait_for(
            lambda: Submission.objects.get(pk=entry["id"]).score_sends >= 2,
            timeout=60,
            what="the reaper to re-send the entry stuck in scoring",
            platform=platform,
        )
        assert Submission.objects.get(pk=entry["id"]).status == "scoring"
        platform.start_scorer()
        final = wait_final(client, [entry["id"]], timeout=90, platform=platform)[entry["id"]]

    assert "reap_stale" in platform.procs["maintenance"].log()
    assert final["status"] == "scored" and final["public_score"] == 1.0
    assert Submission.objects.get(pk=entry["id"]).attempt == 1


# bench/broker_faults.py runs the same test with dozens of restarts.
RESTARTS = int(os.environ.get("PODIUM_STRESS_BROKER_RESTARTS", "6"))


def test_a_stream_of_entries_through_broker_restarts_all_end_scored_or_failed(
    private_redis, make_platform, competition, participant
):
    from podium.competitions.models import Competition
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.models import Submission

    # Three entries per restart: the long run (bench/broker_faults.py) passes the daily limit.
    Competition.objects.filter(pk=competition.pk).update(daily_limit=max(100, 3 * RESTARTS))
    platform = make_platform(broker="redis", redis=private_redis)
    platform.start_web()
    platform.start_scorer()
    platform.start_maintenance()
    platform.start_beat()
    _, token = participant
    body = predictions_csv(iris_truth())
    ids: list[int] = []
    deaths: list[str] = []
    with PodiumClient(platform.url, token, timeout=30) as client:
        for _ in range(RESTARTS):
            for _ in range(3):
                ids.append(client.submit_bytes(competition.slug, csv=body)["id"])
                time.sleep(0.05)
            private_redis.stop()
            private_redis.start()
            # Supervision, as make run's launcher does it: a scorer that died comes back.
            for name in ("scorer", "maintenance"):
                if not platform.procs[name].alive:
                    deaths.append(f"{name}: {platform.procs[name].tail(3)}")
                    getattr(platform, f"start_{name}")()
        states = wait_final(client, ids, timeout=240, platform=platform)

    for state in states.values():
        assert state["status"] in ("scored", "failed"), state
        if state["status"] == "failed":
            assert state["error_message"] and "Traceback" not in state["error_message"]
    assert Submission.objects.filter(competition=competition).count() == len(ids)
    assert BoardEntry.objects.filter(competition=competition).count() == 1
    print(f"broker restarts: {RESTARTS}, entries: {len(ids)}, processes restarted: {len(deaths)}")
    for death in deaths:
        print(death)

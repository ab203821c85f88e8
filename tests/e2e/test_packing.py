"""Many entries in flight through a real trainer with packing on: the trainer's threads hold
several entries at once, entries of one architecture train in one pack, each is scored as its
own; the status API and the trainer's log show the device; a SIGKILL of a trainer holding
several entries loses none of them."""

from __future__ import annotations

import re
import signal

import pytest

from podium_client.client import PodiumClient
from tests.e2e.helpers import SLOW_CONFIG, TINY_CONFIG, wait_final, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WIDER = TINY_CONFIG.replace("units: 16", "units: 32")
SLOW = SLOW_CONFIG.replace("epochs: 40", "epochs: 15")  # three of them in one pack: long enough to kill
# Short periods, so that a test sees the log line and the packs it waits for.
PACKING = {"PODIUM_WORKER_STATS_INTERVAL_S": "1", "PODIUM_WORKER_GATHER_MS": "1500"}


def _submit(client: PodiumClient, slug: str, text: str, tmp_path, name: str) -> int:
    path = tmp_path / name
    path.write_text(text)
    return client.submit(slug, config=path)["id"]


def test_entries_in_flight_train_in_packs_and_each_is_scored(
    private_redis, make_platform, competition, participant, tmp_path
):
    from podium.submissions.models import Submission

    platform = make_platform(broker="redis", redis=private_redis, extra_env=PACKING).start_all()
    _, token = participant
    configs = [
        TINY_CONFIG.replace("seed: 0", f"seed: {s}").replace("lr: 0.01", f"lr: 0.0{s + 1}") for s in range(4)
    ]
    configs.append(WIDER)
    with PodiumClient(platform.url, token, timeout=30) as client:
        ids = [
            _submit(client, competition.slug, text, tmp_path, f"entry{i}.yaml")
            for i, text in enumerate(configs)
        ]
        states = wait_final(client, ids, timeout=180, platform=platform)
        status = client.http.json("GET", "/api/status/")

    for state in states.values():
        assert state["status"] == "scored", state
        assert [e["epoch"] for e in state["epochs"]] == [1, 2]
    trainer = platform.procs["trainer1"]
    sizes = [int(n) for n in re.findall(r"pack of (\d+) on cpu", trainer.log())]
    assert sum(sizes) == len(ids) and max(sizes) >= 2, sizes  # at least two entries trained together
    assert re.search(r"device cpu: \d+ in flight", trainer.log())  # the periodic line
    [device] = [d for d in status["devices"] if d["worker"].startswith("trainer1-")]
    assert device["device"] == "cpu" and device["entries_done"] == len(ids)
    assert device["packs_done"] == len(sizes) < len(ids)
    assert Submission.objects.filter(pk__in=ids, attempt=1).count() == len(ids)  # none ran twice


def test_a_trainer_killed_with_several_entries_in_flight_loses_none(
    private_redis, make_platform, competition, participant, tmp_path
):
    from podium.leaderboards.models import BoardEntry
    from podium.submissions.models import EpochMetric, Submission

    platform = make_platform(broker="redis", redis=private_redis, extra_env=PACKING).start_all()
    _, token = participant
    with PodiumClient(platform.url, token, timeout=30) as client:
        ids = [
            _submit(
                client,
                competition.slug,
                SLOW.replace("seed: 0", f"seed: {s}"),
                tmp_path,
                f"slow{s}.yaml",
            )
            for s in range(3)
        ]
        wait_for(
            lambda: (
                Submission.objects.filter(pk__in=ids, status="running").count() == 3
                and EpochMetric.objects.filter(submission_id__in=ids).exists()
            ),
            timeout=120,
            what="three entries running and a first epoch",
            platform=platform,
        )
        platform.procs["trainer1"].kill(signal.SIGKILL)
        platform.start_trainer()
        states = wait_final(client, ids, timeout=240, platform=platform)

    for entry_id, state in states.items():
        assert state["status"] == "scored", state
        assert state["attempt"] >= 2  # each was given a new attempt after its heartbeats stopped
        epochs = [e["epoch"] for e in state["epochs"]]
        assert epochs == sorted(set(epochs)) and epochs[0] == 1, (entry_id, epochs)
    assert BoardEntry.objects.filter(competition=competition).count() == 1
    assert Submission.objects.filter(competition=competition).count() == 3

"""The fair queue: model entries wait in the database and are released to the training
queue in turn, a window at a time, through the real broker and PostgreSQL."""

from __future__ import annotations

import threading
from collections import deque
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from podium.submissions import queue
from podium.submissions.models import Kind, Status, Submission
from podium.submissions.services import submission_cancel, submission_claim, submission_enqueue
from tests.factories.accounts import make_user
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import TINY_CONFIG, make_submission
from tests.factories.teams import make_team

pytestmark = pytest.mark.django_db


def submit(competition, user, broker=None, **fields):
    """A model entry through the real enqueue; with `broker`, its commit is played at once
    (the release it asks for runs), as the intake's own commit would."""
    entry = make_submission(
        competition, user, kind=Kind.CONFIG, config={"version": 1}, config_text=TINY_CONFIG, **fields
    )
    submission_enqueue(submission=entry)
    if broker is not None:
        broker.commit_pending()
    return entry


class OneWorker:
    """A training worker of one slot over the real broker: it takes the oldest message,
    claims it through the service (which releases the next entry) and finishes the entry it
    ran before. Returns the ids in the order they started."""

    def __init__(self, broker):
        self.broker = broker
        self.inbox: deque = deque()
        self.started: list[int] = []

    def drain(self):
        self.inbox.extend(args[:2] for _, args in self.broker.take("gpu"))

    def run(self, until=None):
        self.drain()
        while self.inbox and (until is None or not until(self.started)):
            sid, attempt = self.inbox.popleft()
            if self.started:
                Submission.objects.filter(pk=self.started[-1]).update(
                    status=Status.SCORED, finished_at=timezone.now()
                )
            submission_claim(submission_id=sid, attempt=attempt)
            self.started.append(sid)
            self.drain()
        return self.started


@pytest.fixture
def crowd(competition):
    """A flooder and ten participants with one entry each."""
    flooder = make_user("flooder")
    singles = [make_user(f"single{i}") for i in range(10)]
    make_participations(competition, flooder, *singles)
    return flooder, singles


# --- the order itself -------------------------------------------------------------------------


def group(entrant, competition_id=1, waiting=1, oldest=0, in_flight=0, served=None):
    from datetime import UTC, datetime

    return queue.Group(
        entrant=entrant,
        competition_id=competition_id,
        waiting=waiting,
        oldest=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=oldest),
        in_flight=in_flight,
        served=served,
    )


def test_fair_order_serves_every_single_entry_before_the_flooders_second():
    flood = group(("user", 1), waiting=100, oldest=0)
    singles = [group(("user", 10 + i), oldest=1 + i) for i in range(10)]
    picks = queue.fair_order([flood, *singles], 20)
    owners = [g.entrant[1] for g in picks]
    # Nobody in flight: the oldest entry first, then everybody with none in flight.
    assert owners[:11] == [1, *range(10, 20)]
    assert owners[11:] == [1] * 9


def test_fair_order_prefers_fewest_in_flight_then_least_recently_served():
    busy = group(("user", 1), waiting=5, in_flight=3, served=100.0)
    idle_recent = group(("user", 2), waiting=5, in_flight=0, served=90.0)
    idle_long_ago = group(("user", 3), waiting=5, in_flight=0, served=10.0)
    picks = queue.fair_order([busy, idle_recent, idle_long_ago], 8)
    assert [g.entrant[1] for g in picks] == [3, 2, 3, 2, 3, 2, 1, 3]


def test_fair_order_takes_turns_over_an_entrants_competitions():
    first = group(("user", 1), competition_id=1, waiting=3, oldest=0)
    second = group(("user", 1), competition_id=2, waiting=3, oldest=5)
    other = group(("team", 1), competition_id=2, waiting=3, oldest=1)
    picks = queue.fair_order([first, second, other], 6)
    assert [(g.entrant, g.competition_id) for g in picks] == [
        (("user", 1), 1),
        (("team", 1), 2),
        (("user", 1), 2),
        (("team", 1), 2),
        (("user", 1), 1),
        (("team", 1), 2),
    ]


# --- through the database and the broker -----------------------------------------------------


def test_every_single_entry_starts_before_the_flooders_twelfth(competition, crowd, broker, settings):
    """100 entries from one participant, then one entry from each of ten others a moment
    later: each single entry starts before the flooder's 12th (here: before their 5th, the
    window's 4 released before the others arrived plus the one running)."""
    settings.PODIUM_DISPATCH_WINDOW = 4
    flooder, singles = crowd
    flood = [submit(competition, flooder, broker).pk for _ in range(100)]
    single_ids = [submit(competition, user, broker).pk for user in singles]
    started = OneWorker(broker).run(until=lambda started: flood[11] in started)
    twelfth = started.index(flood[11])
    assert all(started.index(pk) < twelfth for pk in single_ids), started
    assert max(started.index(pk) for pk in single_ids) < started.index(flood[4])
    assert started[:4] == flood[:4]


def test_fifo_order_makes_them_wait_behind_the_flood(competition, crowd, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 4
    settings.PODIUM_DISPATCH_ORDER = "fifo"
    flooder, singles = crowd
    flood = [submit(competition, flooder, broker).pk for _ in range(30)]
    single_ids = [submit(competition, user, broker).pk for user in singles]
    assert OneWorker(broker).run() == flood + single_ids


def test_the_window_bounds_the_messages_in_the_broker(competition, alice, bob, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 3
    entries = [submit(competition, alice).pk for _ in range(10)]
    sent = [args[:2] for _, args in broker.take("gpu")]
    assert sent == [[pk, 1] for pk in entries[:3]]
    assert Submission.objects.filter(queue.RELEASED).count() == 3
    assert broker.take("gpu") == []
    assert queue.submissions_release() == []  # full: another release sends nothing

    submission_claim(submission_id=entries[0], attempt=1)  # a place frees
    assert [args[0] for _, args in broker.take("gpu")] == [entries[3]]
    submission_cancel(submission=Submission.objects.get(pk=entries[1]))  # released: frees its place
    assert [args[0] for _, args in broker.take("gpu")] == [entries[4]]
    submission_cancel(submission=Submission.objects.get(pk=entries[9]))  # waiting: frees none
    assert broker.take("gpu") == []
    settings.PODIUM_DISPATCH_WINDOW = 5
    assert queue.submissions_release() == entries[5:7]
    assert Submission.objects.filter(queue.RELEASED).count() == 5


def test_a_cancelled_waiting_entry_is_never_sent(competition, alice, bob, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 1
    first = submit(competition, alice, broker)
    waiting = submit(competition, bob, broker)
    assert [args[0] for _, args in broker.take("gpu")] == [first.pk]
    cancelled = submission_cancel(submission=waiting)
    assert cancelled.status == Status.CANCELLED and cancelled.released_at is None
    submission_claim(submission_id=first.pk, attempt=1)
    assert broker.take("gpu") == []
    assert queue.submissions_release() == []


def test_team_members_share_one_turn(competition, alice, bob, charlie, broker, settings):
    """A team is one entrant: two members' entries take turns with a person alone as one."""
    settings.PODIUM_DISPATCH_WINDOW = 1
    make_participations(competition, charlie)
    team = make_team(competition, alice, bob)
    blocker = submit(competition, charlie, broker)
    a = [submit(competition, alice, broker, team=team).pk for _ in range(2)]
    b = [submit(competition, bob, broker, team=team).pk for _ in range(2)]
    c = [submit(competition, charlie, broker).pk for _ in range(2)]
    started = OneWorker(broker).run()
    assert started == [blocker.pk, a[0], c[0], a[1], c[1], b[0], b[1]]


def test_a_teams_entries_go_oldest_first_whoever_made_them(competition, alice, bob, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 4
    team = make_team(competition, alice, bob)
    now = timezone.now()
    made = [
        make_submission(
            competition,
            author,
            team=team,
            kind=Kind.CONFIG,
            config={"version": 1},
            status=Status.QUEUED,
            attempt=1,
            queued_at=now,
            created_at=now,
        )
        for author in (alice, alice, bob, bob)
    ]
    for minutes, entry in enumerate(made):  # apart in time: created_at is set on insert
        Submission.objects.filter(pk=entry.pk).update(created_at=now + timedelta(minutes=minutes))
    assert queue.submissions_release() == [entry.pk for entry in made]


def test_an_entrants_competitions_take_turns(alice, bob, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 1
    first = make_competition("first-cup")
    second = make_competition("second-cup")
    make_participations(first, alice, bob)
    make_participations(second, alice)
    blocker = submit(first, bob, broker)
    in_first = [submit(first, alice, broker).pk for _ in range(3)]
    in_second = [submit(second, alice, broker).pk for _ in range(2)]
    started = OneWorker(broker).run()
    assert started == [blocker.pk, in_first[0], in_second[0], in_first[1], in_second[1], in_first[2]]


def test_prediction_files_never_wait(competition, alice, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 1
    submit(competition, alice)
    submit(competition, alice)
    entry = make_submission(competition, alice)
    submission_enqueue(submission=entry)
    assert broker.take("scoring") == [("podium.submissions.tasks.score_submission", [entry.pk, 1])]
    assert entry.released_at is None and Submission.objects.filter(queue.RELEASED).count() == 1


def test_the_entry_api_says_where_a_queued_entry_stands(
    competition, alice, bob, alice_api, bob_api, broker, settings
):
    settings.PODIUM_DISPATCH_WINDOW = 2
    released = [submit(competition, bob, broker).pk for _ in range(2)]
    bobs_waiting = [submit(competition, bob, broker).pk for _ in range(3)]
    mine = submit(competition, alice, broker).pk
    mine_later = submit(competition, alice, broker).pk

    def place(pk, client=alice_api):
        answer = client.get(f"/api/submissions/{pk}/")
        assert answer.status_code == 200, answer.content
        return answer.json()["queue"]

    # Alice has none in flight: her first goes next after the two released; her second
    # after Bob's next too (one each per turn, Bob's two in flight counted).
    assert place(mine) == {"state": "waiting", "ahead": 2}
    assert place(mine_later) == {"state": "waiting", "ahead": 2 + 1}
    # Bob's next waits for Alice's two: the turn goes to the fewest in flight, then to the
    # one served longest ago.
    assert place(released[1], bob_api) == {"state": "sent", "ahead": 1}
    assert place(bobs_waiting[0], bob_api) == {"state": "waiting", "ahead": 2 + 2}
    # An estimate: it counts as if nothing ahead finished. Here Bob's first finishes before
    # Alice's second is released, and his next goes between her two.
    started = OneWorker(broker).run()
    assert started[:5] == [*released, mine, bobs_waiting[0], mine_later]
    Submission.objects.filter(pk__in=started).update(status=Status.SCORED)
    assert place(mine) is None


def test_the_entry_page_says_it_too(competition, alice, bob, client, broker, settings):
    settings.PODIUM_DISPATCH_WINDOW = 1
    sent = submit(competition, bob, broker)
    waiting = [submit(competition, alice, broker) for _ in range(2)]
    client.force_login(alice)
    html = client.get(f"/submissions/{waiting[1].pk}/").content.decode()
    assert 'data-testid="queue-place">waiting its turn, about 2 entries ahead<' in html
    client.force_login(bob)
    html = client.get(f"/submissions/{sent.pk}/status/").content.decode()
    assert 'data-testid="queue-place">sent to the workers, 0 ahead of it<' in html


def test_the_periodic_release_task_fills_the_window(competition, alice, broker, settings):
    """Beat's safety net: entries whose release never ran (their process died) go out."""
    from podium.celery import app

    settings.PODIUM_DISPATCH_WINDOW = 2
    now = timezone.now()
    ids = [
        make_submission(
            competition,
            alice,
            kind=Kind.CONFIG,
            config={"version": 1},
            status=Status.QUEUED,
            attempt=1,
            queued_at=now,
        ).pk
        for _ in range(3)
    ]
    app.loader.import_default_modules()
    assert app.tasks["podium.submissions.tasks.release_waiting"].run() == 2
    assert [args[0] for _, args in broker.take("gpu")] == ids[:2]


def test_the_window_follows_the_workers_capacity(settings):
    from django.core.cache import cache

    settings.PODIUM_DISPATCH_WINDOW = 0
    assert queue.dispatch_window() == queue.DEFAULT_WINDOW
    cache.set(queue.CAPACITY_CACHE_KEY, 24)
    assert queue.dispatch_window() == 24
    settings.PODIUM_DISPATCH_WINDOW = 3
    assert queue.dispatch_window() == 3


def test_a_bad_dispatch_order_stops_start_up():
    import os
    import subprocess
    import sys

    env = {**os.environ, "PODIUM_DISPATCH_ORDER": "random", "DJANGO_SETTINGS_MODULE": "podium.settings"}
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "PODIUM_DISPATCH_ORDER='random': use 'fair' or 'fifo'" in run.stderr


# --- concurrent dispatchers -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_send_an_entry_twice_nor_overfill_the_window(broker, settings):
    """Eight threads, each with its own database connection, release at the same moment,
    over and over, while places free: every entry is sent once and the window holds."""
    settings.PODIUM_DISPATCH_WINDOW = 10
    competition = make_competition()
    users = [make_user(f"racer{i}") for i in range(5)]
    make_participations(competition, *users)
    now = timezone.now()
    for i in range(60):
        make_submission(
            competition,
            users[i % 5],
            kind=Kind.CONFIG,
            config={"version": 1},
            status=Status.QUEUED,
            attempt=1,
            queued_at=now,
        )
    sent: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def race(barrier):
        try:
            barrier.wait()
            for _ in range(5):
                got = queue.submissions_release()
                with lock:
                    sent.extend(got)
        except BaseException as exc:  # reported below, with the thread's traceback lost
            errors.append(exc)
        finally:
            connection.close()

    def round_of_races():
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=race, args=(barrier,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors

    round_of_races()
    assert len(sent) == 10 and len(set(sent)) == 10
    assert Submission.objects.filter(queue.RELEASED).count() == 10
    # Workers claim seven (without the release a claim asks for): the next round fills
    # exactly their places.
    Submission.objects.filter(pk__in=sent[:7]).update(status=Status.RUNNING)
    round_of_races()
    assert len(sent) == 17 and len(set(sent)) == 17
    assert Submission.objects.filter(queue.RELEASED).count() == 10
    messages = [args[0] for _, args in broker.take("gpu")]
    assert sorted(messages) == sorted(sent)
    # Then the claims' own releases race each other, on their own connections.
    claimed = Submission.objects.filter(queue.RELEASED).values_list("pk", flat=True)[:6]
    threads = [
        threading.Thread(
            target=lambda pk=pk: (submission_claim(submission_id=pk, attempt=1), connection.close())
        )
        for pk in claimed
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    more = [args[0] for _, args in broker.take("gpu")]
    assert len(more) == 6 and not set(more) & set(messages)
    assert Submission.objects.filter(queue.RELEASED).count() == 10

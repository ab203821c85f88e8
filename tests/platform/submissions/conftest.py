"""Fixtures of the submission tests: a competition on a real built-in dataset, a private
broker (so messages of these tests never reach another suite's workers), and a probe
that reads what was really sent to the broker."""

from __future__ import annotations

import pytest

from tests.broker_folders import use_broker_folder
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import TINY_CONFIG, make_submission


@pytest.fixture(scope="session")
def private_var_dir(tmp_path_factory):
    """A var/ of these tests' own: a worker process started with PODIUM_VAR_DIR=<this> shares the broker."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(autouse=True)
def _broker_in_tmp(private_var_dir):
    """The broker folder a worker started with PODIUM_VAR_DIR=private_var_dir reads."""
    return use_broker_folder(private_var_dir / "broker")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The personas' PBKDF2 hashes cost ~2 s each on a busy 2-core box; these tests never log in by password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class BrokerProbe:
    """Reads Celery messages back from the real broker: (task name, args) per message."""

    QUEUES = ("gpu", "cpu", "scoring")

    def __init__(self, app):
        self.app = app
        self._ran = 0

    def commit_pending(self) -> None:
        """Run the on-commit callbacks a test transaction holds back, as its commit would.

        Tests marked transaction=True commit for real and have none pending."""
        from django.db import connection

        while len(connection.run_on_commit) > self._ran:
            _, callback, robust = connection.run_on_commit[self._ran]
            self._ran += 1
            callback()

    def take(self, queue: str) -> list[tuple[str, list]]:
        self.commit_pending()
        out = []
        with self.app.connection_for_read() as conn:
            q = conn.SimpleQueue(queue)
            try:
                while True:
                    try:
                        # Non-blocking: a publish has landed when send_task returns (Redis BRPOP would wait 1 s).
                        message = q.get_nowait()
                    except q.Empty:
                        break
                    args = message.decode()[0]
                    out.append((message.headers["task"], list(args)))
                    message.ack()
            finally:
                q.close()
        return out

    def purge(self) -> None:
        for queue in self.QUEUES:
            self.take(queue)


@pytest.fixture
def broker(_broker_in_tmp):
    from django.db import connection

    probe = BrokerProbe(_broker_in_tmp)
    probe.purge()
    probe._ran = len(connection.run_on_commit)  # earlier fixtures' callbacks are not this test's
    yield probe
    probe.purge()


@pytest.fixture
def competition(db, alice, bob):
    competition = make_competition()
    make_participations(competition, alice, bob)
    return competition


@pytest.fixture
def queue_config_entry(broker):
    """A model-config entry queued through the real service; returns (submission, token).

    The message goes out when the enqueue commits (or the probe plays the commit)."""
    from podium.submissions.models import Kind
    from podium.submissions.services import submission_enqueue

    def make(competition, user):
        submission = make_submission(
            competition, user, kind=Kind.CONFIG, config={"version": 1}, config_text=TINY_CONFIG
        )
        submission_enqueue(submission=submission)
        sent = broker.take("gpu")
        assert [(name, args[:2]) for name, args in sent] == [
            ("workers.tasks.train_submission", [submission.pk, submission.attempt])
        ]
        return submission, sent[0][1][2]

    return make

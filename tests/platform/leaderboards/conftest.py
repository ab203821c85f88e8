"""Factories for board tests: a competition, participants and their scored entries."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

from podium.competitions.models import Competition, Dataset, Participation
from podium.leaderboards.services import board_record_entry, board_record_score
from podium.submissions.models import Status, Submission

_seq = count(1)


def make_competition(**overrides) -> Competition:
    n = next(_seq)
    dataset = Dataset.objects.create(
        slug=f"ds-{n}", title="Data", task_type="classification", manifest={"slug": f"ds-{n}"}
    )
    now = timezone.now()
    fields = dict(
        slug=f"comp-{n}",
        title=f"Competition {n}",
        dataset=dataset,
        task_type="classification",
        metric="accuracy",
        higher_is_better=True,
        starts_at=now - timedelta(days=3),
        ends_at=now + timedelta(days=3),
        daily_limit=5,
        max_final_picks=2,
    )
    fields.update(overrides)
    return Competition.objects.create(**fields)


def join(competition, *users):
    for user in users:
        Participation.objects.get_or_create(
            competition=competition, user=user, defaults={"accepted_rules_at": timezone.now()}
        )


def make_entry(
    competition,
    user,
    public=None,
    private=None,
    *,
    status=Status.SCORED,
    at=None,
    ci=None,
    team=None,
    record=True,
) -> Submission:
    """An entry as the scorer leaves it, applied to the board the way the scorer does."""
    submission = Submission.objects.create(
        competition=competition, user=user, team=team, kind="predictions", status=Status.QUEUED
    )
    if at is not None:
        Submission.objects.filter(pk=submission.pk).update(created_at=at)
        submission.refresh_from_db()
    if record:
        board_record_entry(submission=submission)
    if status != Status.QUEUED:
        submission.status = status
        if status == Status.SCORED:
            submission.public_score = public
            submission.private_score = private if private is not None else public
            low, high = ci if ci is not None else (public - 0.01, public + 0.01)
            submission.public_ci_low, submission.public_ci_high = low, high
            submission.finished_at = timezone.now()
        submission.save()
        if record:
            if status == Status.SCORED:
                board_record_score(submission=submission)
            else:
                board_record_entry(submission=submission)
    return submission


@pytest.fixture
def competition(db):
    return make_competition()


@pytest.fixture
def dave(django_user_model):
    return django_user_model.objects.create_user(username="dave", password="correct-horse-battery")


@pytest.fixture
def erin(django_user_model):
    return django_user_model.objects.create_user(username="erin", password="correct-horse-battery")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The personas are created with passwords; PBKDF2's deliberate slowness is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""boards_rebuild_competition (the rescore's one board update) gives every row exactly what
board_rebuild gives it entrant by entrant: random entries, teams, final picks, failures,
disqualifications, both directions and the Ladder."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from podium.leaderboards.models import BoardEntry
from podium.leaderboards.services import board_rebuild, boards_rebuild_competition
from podium.submissions.entrants import Entrant
from podium.submissions.models import Submission
from tests.factories.accounts import make_user
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.leaderboards import make_entry
from tests.factories.teams import make_team

pytestmark = pytest.mark.django_db

ROW_FIELDS = [
    "user_id",
    "team_id",
    "score",
    "rank_key",
    "submission_id",
    "submitted_at",
    "ci_low",
    "ci_high",
    "entry_count",
    "last_submitted_at",
    "private_score",
    "private_rank_key",
    "private_submission_id",
    "private_submitted_at",
]


def _rows(competition) -> dict:
    return {
        (r["team_id"], r["user_id"]): r
        for r in BoardEntry.objects.filter(competition=competition).values(*ROW_FIELDS)
    }


@pytest.mark.parametrize(
    "seed, fields",
    [
        (1, {}),
        (2, {"higher_is_better": False, "metric": "rmse", "task_type": "regression"}),
        (3, {"ladder_enabled": True, "ladder_step": 0.05}),
        (4, {"max_final_picks": 1}),
    ],
)
def test_batched_rebuild_equals_rebuilding_each_entrant(seed, fields):
    rng = random.Random(seed)
    competition = make_bare_competition(**fields)
    users = [make_user(f"p{seed}-{i}") for i in range(9)]
    make_participations(competition, *users)
    team = make_team(competition, users[0], users[1], name="Pair")
    start = timezone.now() - timedelta(days=2)
    for n in range(60):
        user = rng.choice(users)
        status = rng.choice(["scored"] * 5 + ["failed", "cancelled", "queued"])
        score = round(rng.random(), 2)  # ties on purpose
        make_entry(
            competition,
            user,
            score if status == "scored" else None,
            round(rng.random(), 3) if status == "scored" else None,
            status=status,
            at=start + timedelta(minutes=n),
            team=team if user in users[:2] else None,
        )
    scored = list(Submission.objects.filter(competition=competition, status="scored"))
    for entry in rng.sample(scored, 8):
        Submission.objects.filter(pk=entry.pk).update(is_final_pick=True)
    for entry in rng.sample(scored, 6):
        Submission.objects.filter(pk=entry.pk).update(disqualified_at=timezone.now(), disqualified_reason="x")
    # Scores change under the rows (what a rescore does), then both ways recompute them.
    for entry in scored:
        Submission.objects.filter(pk=entry.pk).update(
            public_score=round(rng.random(), 2), private_score=round(rng.random(), 3)
        )

    boards_rebuild_competition(competition=competition)
    batched = _rows(competition)
    entrants = {Entrant.of(competition_id=competition.pk, user_id=u.pk, team_id=None) for u in users[2:]}
    entrants.add(Entrant.of(competition_id=competition.pk, user_id=None, team_id=team.pk))
    for entrant in entrants:
        board_rebuild(entrant=entrant)
    one_by_one = _rows(competition)
    assert batched.keys() == one_by_one.keys()
    for key, row in one_by_one.items():
        assert batched[key] == row, key

"""Redis down under the cache (a restart, an outage): the rate limits cannot be read, and the
intake still answers — 201 and the entry stored — never a 500."""

from __future__ import annotations

import io

import pytest

from podium.cache import TolerantRedisCache
from podium.submissions.models import Submission
from tests.e2e.harness import free_port
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import predictions_csv

pytestmark = pytest.mark.django_db


def unreachable_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_an_unreachable_redis_is_a_cache_miss():
    cache = TolerantRedisCache(unreachable_redis(), {"OPTIONS": {"socket_connect_timeout": 0.5}})
    assert cache.get("limit", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("a") is False
    assert cache.add("a", 1) is False
    cache.set("a", 1)
    cache.delete("a")
    assert cache.incr("hits", 3) == 3
    assert cache.get_or_set("b", 7) == 7


def test_the_intake_answers_while_the_cache_is_down(settings, alice, alice_api, broker):
    settings.CACHES = {
        "default": {
            "BACKEND": "podium.cache.TolerantRedisCache",
            "LOCATION": unreachable_redis(),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.PODIUM_INTAKE_RATE = "1/1m"  # unenforceable while the cache is down: not a refusal
    competition = make_competition(slug="outage", daily_limit=10)
    make_participations(competition, alice)
    answers = []
    for _ in range(2):
        upload = io.BytesIO(predictions_csv(competition))
        upload.name = "p.csv"
        answers.append(
            alice_api.post(
                f"/api/competitions/{competition.slug}/submissions/", {"file": upload}, format="multipart"
            ).status_code
        )
    assert answers == [201, 201]
    assert Submission.objects.filter(user=alice, competition=competition).count() == 2
    assert len(broker.take("scoring")) == 2

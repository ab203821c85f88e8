"""competition_create fixes the partition and stores the answer key; imports are idempotent."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from competition_helpers import media_files
from django.core.exceptions import ValidationError
from django.utils import timezone

from podium.competitions import selectors, services
from podium.competitions.models import Competition, Dataset, DatasetFile
from tests.factories.competitions import make_competition

pytestmark = pytest.mark.django_db


def test_builtin_import_is_idempotent(settings):
    first = services.dataset_import_builtin(slug="iris")
    again = services.dataset_import_builtin(slug="iris")
    assert first.pk == again.pk
    assert Dataset.objects.count() == 1 and DatasetFile.objects.count() == 4
    assert len(media_files(settings)) == 4
    labels = first.files.get(name="test_labels.csv")
    assert labels.hidden and labels.size == labels.file.size
    import hashlib

    with labels.file.open("rb") as fh:
        assert (
            hashlib.sha256(fh.read()).hexdigest()
            == labels.sha256
            == first.manifest["files"]["test_labels.csv"]["sha256"]
        )


def test_unknown_builtin_is_refused():
    with pytest.raises(ValidationError, match="unknown built-in dataset 'nope'"):
        services.dataset_import_builtin(slug="nope")


def test_create_fixes_a_seeded_partition_and_stores_the_key():
    a = make_competition("cup-a", split_seed=7, public_fraction=0.4)
    b = make_competition("cup-b", split_seed=7, public_fraction=0.4)
    c = make_competition("cup-c", split_seed=8, public_fraction=0.4)
    assert a.n_public + a.n_private == 38
    assert a.n_public == 15
    key_a, key_b, key_c = (selectors.answer_key_for(x) for x in (a, b, c))
    assert np.array_equal(key_a.public, key_b.public)
    assert not np.array_equal(key_a.public, key_c.public)
    assert a.answer_key_sha256 == b.answer_key_sha256
    assert a.answer_key.name.startswith("answer_keys/cup-a/")
    # The key holds exactly the hidden labels, in the test order.
    labels = a.dataset.files.get(name="test_labels.csv").file.open("rb").read().decode().splitlines()[1:]
    assert [
        f"{i},{a.dataset.manifest['classes'][t]}" for i, t in zip(key_a.ids, key_a.targets, strict=True)
    ] == labels
    # Loaded keys are reused per process.
    assert selectors.answer_key_for(a) is key_a


def test_direction_and_task_come_from_the_metric_registry():
    assert make_competition("ll", metric="log_loss").higher_is_better is False
    assert make_competition("auc", metric="roc_auc").higher_is_better is True
    reg = make_competition("reg", dataset="diabetes", metric="r2")
    assert reg.task_type == "regression" and reg.higher_is_better is True


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"metric": "rmse"}, "metric", "is for regression"),
        ({"metric": "bleu"}, "metric", "unknown metric"),
        ({"starts": 3, "ends": 1}, "ends_at", "end after it starts"),
        ({"accepts_predictions": False, "accepts_configs": False}, "accepts_predictions", "or both"),
        ({"public_fraction": 1.0}, "public_fraction", "between 0 and 1"),
    ],
)
def test_bad_competition_is_refused_and_nothing_stored(settings, fields, field, message):
    services.dataset_import_builtin(slug="iris")
    before = media_files(settings)
    with pytest.raises(ValidationError) as err:
        make_competition("bad", **fields)
    assert message in " ".join(err.value.message_dict[field])
    assert not Competition.objects.exists()
    assert media_files(settings) == before


def test_duplicate_slug_is_refused(settings):
    make_competition("cup")
    before = media_files(settings)
    with pytest.raises(ValidationError, match="already exists"):
        make_competition("cup")
    assert Competition.objects.count() == 1 and media_files(settings) == before


def test_update_keeps_the_partition_fixed(iris_cup):
    with pytest.raises(ValidationError, match="fixed at creation"):
        services.competition_update(competition=iris_cup, split_seed=99)
    later = iris_cup.ends_at + timedelta(days=3)
    services.competition_update(competition=iris_cup, ends_at=later, daily_limit=9)
    iris_cup.refresh_from_db()
    assert iris_cup.ends_at == later and iris_cup.daily_limit == 9


def test_join_is_idempotent_and_drafts_refuse_participants(alice, bob, admin_user):
    open_cup = make_competition("open")
    first = services.competition_join(competition=open_cup, user=alice)
    assert services.competition_join(competition=open_cup, user=alice).pk == first.pk
    draft = make_competition("draft", is_published=False)
    with pytest.raises(services.JoinRefused, match="not published"):
        services.competition_join(competition=draft, user=bob)
    services.competition_join(competition=draft, user=admin_user)
    assert selectors.participation_exists(competition=open_cup, user=alice)
    assert not selectors.participation_exists(competition=open_cup, user=bob)
    assert not selectors.participation_exists(competition=draft, user=bob)


def test_next_daily_reset_is_utc_midnight():
    import datetime as dt

    now = dt.datetime(2026, 3, 4, 23, 59, tzinfo=dt.UTC)
    assert selectors.next_daily_reset(now=now) == dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
    assert (
        selectors.competition_status(Competition(starts_at=now, ends_at=now + timedelta(1)), now=now)
        == "open"
    )
    assert (
        selectors.competition_status(Competition(starts_at=timezone.now() + timedelta(1), ends_at=now))
        == "upcoming"
    )

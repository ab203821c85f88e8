"""The hidden test labels are never served: every URL pattern, every persona.

The walk reads the URL configuration at run time, so a URL another app adds
later is walked too. Path parameters are filled with real slugs, ids and file
names of seeded data (including the hidden file names, which must answer
without their content). Two datasets make leaks visible:

- a classification set with string ids (`t-…`): a response leaks if it holds
  many of the `id,label` lines of test_labels.csv / the answer key;
- a regression set whose test targets are distinctive numbers found nowhere
  else: a response leaks if it holds several of them in any encoding (CSV,
  JSON, HTML).
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone

pytestmark = pytest.mark.django_db

N_CLASS_TEST = 60
N_REG_TEST = 40
CLASSES = [f"k{i:02d}" for i in range(12)]
MAX_COMBOS_PER_TEMPLATE = 40
HIDDEN_NAMES = ["test_labels.csv", "answer_key.csv"]
# Served to a competition's hosts and site staff only, with the hidden labels by design: a
# competition bundle (docs/operations.md, "Bundles"), to move the competition to another server.
MANAGERS_ONLY = {"api/competitions/%(slug)s/bundle/"}
PUBLIC_NAMES = ["train.csv", "test.csv", "sample_submission.csv"]


def _class_csvs() -> tuple[bytes, bytes]:
    train = "id,a,b,label\n" + "".join(
        f"r-{i:04d},{i % 7},{(i * 3) % 11},{CLASSES[i % len(CLASSES)]}\n" for i in range(120)
    )
    # The test labels follow a pattern unrelated to the train rows' order; the test features
    # (halves and quarters) are on no train row, so no hidden row is served.
    test = "id,a,b,label\n" + "".join(
        f"t-{i:04d},{i % 5}.5,{i % 9}.25,{CLASSES[(i * 5 + 3) % len(CLASSES)]}\n" for i in range(N_CLASS_TEST)
    )
    return train.encode(), test.encode()


def _reg_target(i: int) -> str:
    return f"{9137 + i}.{(i * 7919) % 10000:04d}1"


def _reg_csvs() -> tuple[bytes, bytes]:
    train = "id,x1,x2,y\n" + "".join(f"{i},{i % 13},{i % 5},{i * 0.5}\n" for i in range(80))
    test = "id,x1,x2,y\n" + "".join(
        f"{1000 + i},{i % 13}.5,{i % 5},{_reg_target(i)}\n" for i in range(N_REG_TEST)
    )
    return train.encode(), test.encode()


def _hidden_class_labels() -> dict[bytes, bytes]:
    return {f"t-{i:04d}".encode(): CLASSES[(i * 5 + 3) % len(CLASSES)].encode() for i in range(N_CLASS_TEST)}


def _reg_tokens() -> list[bytes]:
    return [_reg_target(i).encode() for i in range(N_REG_TEST)]


# An id followed on the same line by a label: CSV rows, JSON objects, table rows alike.
_ID_THEN_LABEL = re.compile(rb"(t-\d{4})[^\n]{0,200}?\b(k\d\d)\b")


def leaks(content: bytes) -> str | None:
    """Why this response body leaks hidden labels, or None."""
    hidden = _hidden_class_labels()
    right = {i for i, label in _ID_THEN_LABEL.findall(content) if hidden.get(i) == label}
    # Each class holds 5 of the 60 test rows, so a constant guess matches 5; a 30 % public
    # split is 18.
    if len(right) > N_CLASS_TEST // 5:
        return f"{len(right)} of {N_CLASS_TEST} hidden labels next to their ids"
    tokens = sum(1 for token in _reg_tokens() if token in content)
    if tokens >= 3:
        return f"{tokens} of {N_REG_TEST} hidden regression targets"
    return None


def test_the_leak_detector_detects():
    """The walk is only worth something if its detector fires on real leaks."""
    import json

    hidden = _hidden_class_labels()
    rows = [(i.decode(), label.decode()) for i, label in hidden.items()]
    assert leaks(_class_csvs()[1])  # the upload with its labels
    assert leaks(_reg_csvs()[1])
    assert leaks("\n".join(f"{i},{label}" for i, label in rows).encode())
    assert leaks("\n".join(f"{i},{label},public" for i, label in rows[:18]).encode())  # a public split
    assert leaks(json.dumps([{"id": i, "target": label} for i, label in rows]).encode())
    assert leaks(json.dumps({"targets": [float(t) for t in _reg_tokens()[:5]]}).encode())
    assert leaks(("<td>" + "</td><td>".join(t.decode() for t in _reg_tokens()[:4])).encode())
    # A constant guess, the public data and the class list are not leaks.
    assert not leaks("\n".join(f"{i},k00" for i, _ in rows).encode())
    assert not leaks(_class_csvs()[0] + _reg_csvs()[0])
    assert not leaks(
        b"\n".join(f"t-{i:04d},{i % 5},{i % 9}".encode() for i in range(60)) + b" ".join(hidden.values())
    )


# --- seeded data ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(alice, bob, admin_user):
    from podium.accounts.services import api_token_create
    from podium.competitions.selectors import sample_submission_for
    from podium.competitions.services import competition_create, competition_join, dataset_create_from_upload
    from podium.submissions.models import Status, Submission

    now = timezone.now()
    train, test = _class_csvs()
    classes = dataset_create_from_upload(
        train_file=train,
        test_file=test,
        slug="walk-class",
        title="Walk",
        task_type="classification",
        target_column="label",
    )
    train, test = _reg_csvs()
    regression = dataset_create_from_upload(
        train_file=train,
        test_file=test,
        slug="walk-reg",
        title="Walk reg",
        task_type="regression",
        target_column="y",
    )
    competitions = [
        competition_create(
            dataset=classes,
            slug="walk-open",
            title="Open",
            metric="accuracy",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=5),
        ),
        competition_create(
            dataset=regression,
            slug="walk-reg-open",
            title="Reg",
            metric="rmse",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=5),
            pretrain_datasets=[classes],
        ),
        competition_create(
            dataset=classes,
            slug="walk-over",
            title="Over",
            metric="log_loss",
            starts_at=now - timedelta(days=9),
            ends_at=now - timedelta(days=1),
        ),
    ]
    submissions = []
    for competition in competitions:
        for user in (alice, bob):
            if competition.ends_at > now:
                competition_join(competition=competition, user=user)
            sub = Submission(
                competition=competition,
                phase=competition.phases.get(number=1),
                user=user,
                kind="predictions",
                status=Status.SCORED,
                public_score=0.5,
                private_score=0.4,
                attempt=1,
                finished_at=now,
            )
            sub.predictions.save(
                "predictions.csv", ContentFile(sample_submission_for(competition=competition))
            )
            submissions.append(sub)
            _record_on_board(sub)
    _team(alice, competitions[0])
    api_token_create(user=alice, name="walk")
    api_token_create(user=bob, name="walk")
    return {"competitions": competitions, "datasets": [classes, regression], "submissions": submissions}


def _record_on_board(submission) -> None:
    try:
        from podium.leaderboards.services import board_record_score
    except ImportError:
        return
    board_record_score(submission=submission)


def _team(user, competition) -> None:
    try:
        from podium.teams.services import team_create
    except ImportError:
        return
    team_create(user=user, competition=competition, name="walkers")


# --- the walk -----------------------------------------------------------------------------


def url_templates() -> list[tuple[str, list[str]]]:
    """Every URL of the project as a %-format string and its parameter names."""
    found: set[tuple[str, tuple[str, ...]]] = set()

    def walk(resolver, prefix: str):
        for entries in resolver.reverse_dict.lists():
            for possibilities, *_ in entries[1]:
                for fmt, params in possibilities:
                    found.add((prefix + fmt, tuple(params)))
        for sub_prefix, sub in resolver.namespace_dict.values():
            walk(sub, prefix + _plain(sub_prefix))

    walk(get_resolver(), "")
    return sorted((fmt, list(params)) for fmt, params in found)


def _plain(regex: str) -> str:
    text = regex.lstrip("^").replace("\\Z", "").replace("$", "").replace("\\", "")
    assert "(" not in text, f"a namespaced include with a parameter in its prefix: {regex}"
    return text


def _candidates(fmt: str, param: str, data: dict) -> list[str]:
    from podium.accounts.models import ApiToken, User
    from podium.submissions.models import Submission
    from podium.teams.models import Team

    competitions = [c.slug for c in data["competitions"]]
    datasets = [d.slug for d in data["datasets"]]
    admin_object = re.match(r"admin/(\w+)/(\w+)/%\(object_id\)s", fmt)
    if admin_object:
        model = apps.get_model(admin_object.group(1), admin_object.group(2))
        return [str(pk) for pk in model.objects.values_list("pk", flat=True)[:3]] or ["1"]
    by_name = {
        # A dataset URL takes dataset slugs, anything else competition slugs.
        "slug": datasets if "dataset" in fmt else competitions,
        "dataset_slug": datasets,
        "name": PUBLIC_NAMES + HIDDEN_NAMES,
        "filename": PUBLIC_NAMES + HIDDEN_NAMES,
        "submission_id": [str(s.pk) for s in Submission.objects.all()],
        "token_id": [str(pk) for pk in ApiToken.objects.values_list("pk", flat=True)],
        "team_id": [str(pk) for pk in Team.objects.values_list("pk", flat=True)],
        "user_id": [str(pk) for pk in User.objects.values_list("pk", flat=True)],
        "dataset_id": [str(d.pk) for d in data["datasets"]],
        "competition_id": [str(c.pk) for c in data["competitions"]],
        "app_label": ["competitions", "accounts", "submissions", "leaderboards"],
        "model_name": ["dataset", "datasetfile", "competition", "submission", "apitoken"],
    }
    if param in by_name:
        return by_name[param]
    # A parameter this walk does not know yet: try every kind of value.
    ids = [str(s.pk) for s in data["submissions"][:2]]
    return competitions[:1] + datasets[:1] + ids + HIDDEN_NAMES


def filled_urls(data: dict) -> list[tuple[str, str]]:
    urls = []
    for fmt, params in url_templates():
        values = [_candidates(fmt, p, data) for p in params]
        combos = list(itertools.islice(itertools.product(*values), MAX_COMBOS_PER_TEMPLATE))
        for combo in combos:
            urls.append((fmt, "/" + fmt % dict(zip(params, combo, strict=True))))
    return urls


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _personas(alice, admin_user, data) -> dict[str, Client]:
    from podium.submissions.tokens import worker_token_make

    participant = Client()
    participant.force_login(alice)
    staff = Client()
    staff.force_login(admin_user)
    alice_entry = next(s for s in data["submissions"] if s.user_id == alice.pk)
    worker = Client(
        HTTP_AUTHORIZATION=f"Worker {worker_token_make(submission_id=alice_entry.pk, attempt=alice_entry.attempt)}"
    )
    return {"anonymous": Client(), "participant": participant, "staff": staff, "worker": worker}


def test_no_url_serves_hidden_labels(seeded, alice, admin_user):
    urls = filled_urls(seeded)
    templates = {fmt for fmt, _ in urls}
    # The walk really covers the apps: a broken walker must not pass by seeing nothing.
    for expected in (
        "api/competitions/%(slug)s/data/%(name)s",
        "api/datasets/%(slug)s/manifest/",
        "api/tokens/",
        "api/schema/",
        "admin/competitions/dataset/%(object_id)s/change/",
    ):
        assert expected in templates, expected
    # The stored hidden files and answer keys trip the detector (so a served copy would).
    from podium.competitions.selectors import answer_key_bytes

    for dataset in seeded["datasets"]:
        with dataset.files.get(name="test_labels.csv").file.open("rb") as fh:
            assert leaks(fh.read()), dataset
    for competition in seeded["competitions"]:
        assert leaks(answer_key_bytes(competition)), competition
    leaked, served = [], 0
    for persona, client in _personas(alice, admin_user, seeded).items():
        for _fmt, url in urls:
            if persona == "worker" and not url.startswith("/api/worker/"):
                continue  # a worker token opens the worker callbacks and nothing else
            response = client.get(url)
            if _fmt in MANAGERS_ONLY:
                # The bundle carries the hidden labels on purpose (zipped, so the detector would
                # not see them): its managers alone get it.
                if persona != "staff" and response.status_code == 200:
                    leaked.append(f"{persona} GET {url}: a bundle, with the hidden labels")
                continue
            if response.status_code >= 500:
                leaked.append(f"{persona} GET {url}: HTTP {response.status_code}")
                continue
            served += response.status_code == 200
            reason = leaks(_body(response))
            if reason:
                leaked.append(f"{persona} GET {url}: {reason}")
    assert not leaked, "\n".join(leaked)
    # Staff and participants really got data pages (a walk of 404s proves nothing).
    assert served > len(templates)


def test_public_files_are_served_but_labels_never(seeded, alice):
    """Positive control inside the app: the data files come back, the hidden one does not."""
    client = Client()
    client.force_login(alice)
    train = client.get("/api/competitions/walk-open/data/train.csv")
    assert train.status_code == 200 and b"r-0001" in _body(train)
    test = client.get("/api/competitions/walk-open/data/test.csv")
    assert test.status_code == 200 and b"t-0001" in _body(test) and not leaks(_body(test))
    for name in HIDDEN_NAMES:
        assert client.get(f"/api/competitions/walk-open/data/{name}").status_code == 404


# --- no hidden row is served in another file ------------------------------------------------


def test_no_stored_test_row_is_served_in_any_file(seeded):
    """Beside the built-in catalog, every dataset this walk uploads: no test row of one is
    a row of its own train.csv or of any downloadable file of another (read back from
    storage, as served), so no hidden label can be looked up."""
    from datasets import catalog
    from datasets.overlap import find_duplicates, hidden_test_keys
    from podium.competitions.models import Dataset
    from podium.competitions.selectors import dataset_served_feature_files
    from podium.competitions.services import dataset_import_builtin

    assert [d.upload_warnings for d in seeded["datasets"]] == [[], []]
    for slug in catalog.BUILTINS:
        dataset_import_builtin(slug=slug)
    served = dataset_served_feature_files()
    found = {}
    for dataset in Dataset.objects.all():
        own = f"{dataset.slug} v{dataset.version} "
        test_name = "test_images.npy" if dataset.manifest.get("images") else "test.csv"
        with dataset.files.get(name=test_name).file.open("rb") as fh:
            test_keys = hidden_test_keys({test_name: fh.read()}, dataset.manifest)
        own_train = {own + "train.csv", own + "train_images.npy"}
        elsewhere = [f for f in served if not f.name.startswith(own) or f.name in own_train]
        duplicates = find_duplicates(test_keys, elsewhere)
        if duplicates.n_rows:
            found[str(dataset)] = duplicates.by_file
    assert Dataset.objects.count() == len(catalog.BUILTINS) + 2
    assert found == {}

"""Text and categorical uploads through the staff API: stored with their tokenizer and
token arrays (served to participants; hidden labels never), refused with file, row and
column named and nothing stored; staff only."""

from __future__ import annotations

import numpy as np
import pytest
from competition_helpers import media_files
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.text import read_npy
from podium.competitions.models import Dataset, DatasetFile

pytestmark = pytest.mark.django_db

WORDS = ["good", "bad", "not", "very", "film", "plot", "the", "was"]


def _unique_texts(n: int) -> list[str]:
    # Distinct texts: a test review that is also a training review would give its label away.
    rng = np.random.default_rng(0)
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(" ".join(rng.choice(WORDS, size=int(rng.integers(3, 8)))), None)
    return list(seen)


def _reviews(texts: list[str], start: int) -> bytes:
    lines = ["id,review,sentiment"]
    lines += [f"{start + i},{t},{'pos' if 'good' in t else 'neg'}" for i, t in enumerate(texts)]
    return ("\n".join(lines) + "\n").encode()


TEXTS = _unique_texts(80)
TRAIN, TEST = _reviews(TEXTS[:60], 0), _reviews(TEXTS[60:], 1000)


def _post(client, train=TRAIN, test=TEST, **fields):
    data = {
        "slug": "reviews",
        "title": "Reviews",
        "task_type": "classification",
        "target_column": "sentiment",
        "text_column": "review",
        "vocab_size": 64,
        "max_length": 12,
        **fields,
    }
    data["train_file"] = SimpleUploadedFile("train.csv", train, content_type="text/csv")
    if test is not None:
        data["test_file"] = SimpleUploadedFile("test.csv", test, content_type="text/csv")
    return client.post("/api/datasets/", data, format="multipart")


def _nothing_stored(settings) -> bool:
    return Dataset.objects.count() == 0 and DatasetFile.objects.count() == 0 and media_files(settings) == []


def test_text_upload_stores_tokenizer_and_arrays(admin_api):
    answer = _post(admin_api)
    assert answer.status_code == 201, answer.json()
    manifest = answer.json()["manifest"]
    assert manifest["inputs"]["kind"] == "tokens" and manifest["input_shape"] == [12]
    dataset = Dataset.objects.get(slug="reviews")
    stored = {f.name: f for f in dataset.files.all()}
    assert {"tokenizer.json", "train_tokens.npy", "test_tokens.npy"} <= set(stored)
    assert stored["test_labels.csv"].hidden and not stored["test_tokens.npy"].hidden
    with stored["train_tokens.npy"].file.open("rb") as fh:
        assert read_npy(fh.read()).shape == (60, 12)


def test_participant_downloads_the_arrays_but_never_the_labels(admin_api, alice_api):
    assert _post(admin_api).status_code == 201
    from tests.factories.competitions import make_competition

    dataset = Dataset.objects.get(slug="reviews")
    competition = make_competition(dataset=dataset, slug="reviews-cup")
    assert alice_api.post(
        f"/api/competitions/{competition.slug}/join/", {"accept_rules": True}
    ).status_code in (
        200,
        201,
    )
    tokens = alice_api.get(f"/api/competitions/{competition.slug}/data/test_tokens.npy")
    assert tokens.status_code == 200
    labels = alice_api.get(f"/api/competitions/{competition.slug}/data/test_labels.csv")
    assert labels.status_code == 404


@pytest.mark.parametrize(
    ("train", "fields", "where", "words"),
    [
        (TRAIN + b"99,,pos\n", {}, ("train.csv", 62, "review"), "the text is empty"),
        (TRAIN + "98,caf\xe9 good,pos\n".encode("latin-1"), {}, ("train.csv", 62, "review"), "not UTF-8"),
        (
            TRAIN + b"97," + b"good film " * 10 + b",pos\n",
            {},
            ("train.csv", 62, "review"),
            "more than the maximum length 12",
        ),
    ],
    ids=["empty", "not-utf8", "over-long"],
)
def test_bad_text_upload_is_refused_and_nothing_is_stored(admin_api, settings, train, fields, where, words):
    answer = _post(admin_api, train=train, **fields)
    assert answer.status_code == 400, answer.json()
    problems = answer.json()["problems"]
    assert [(p["file"], p["row"], p["column"]) for p in problems] == [where], problems
    assert words in problems[0]["message"]
    assert _nothing_stored(settings)


def test_over_long_text_is_cut_when_truncation_is_chosen(admin_api):
    train = TRAIN + b"97," + b"good film " * 10 + b",pos\n"
    answer = _post(admin_api, train=train, truncate=True)
    assert answer.status_code == 201, answer.json()
    assert answer.json()["manifest"]["inputs"]["truncated"] == {"train": 1, "test": 0}


def test_text_upload_is_staff_only(anon_api, alice_api, settings):
    assert _post(anon_api).status_code in (401, 403)
    assert _post(alice_api).status_code == 403
    assert _nothing_stored(settings)


CATEGORICAL_TRAIN = (
    b"id,size,color,label\n1,1.0,red,a\n2,2.0,blue,b\n3,3.0,red,a\n4,4.0,green,b\n5,5.0,blue,a\n"
)
CATEGORICAL_TEST = b"id,size,color,label\n10,1.5,purple,a\n11,2.5,red,b\n"


def test_categorical_columns_are_declared_at_upload(admin_api):
    answer = _post(
        admin_api,
        train=CATEGORICAL_TRAIN,
        test=CATEGORICAL_TEST,
        target_column="label",
        text_column="",
        categorical_columns="color",
    )
    assert answer.status_code == 201, answer.json()
    inputs = answer.json()["manifest"]["inputs"]
    assert inputs["categorical"] == {"color": {"index": 1, "categories": ["blue", "green", "red"]}}


def test_undeclared_category_names_are_refused_as_numbers(admin_api, settings):
    answer = _post(
        admin_api, train=CATEGORICAL_TRAIN, test=CATEGORICAL_TEST, target_column="label", text_column=""
    )
    assert answer.status_code == 400
    assert {(p["file"], p["column"]) for p in answer.json()["problems"]} >= {("train.csv", "color")}
    assert _nothing_stored(settings)


def test_unknown_categorical_column_is_named(admin_api, settings):
    answer = _post(
        admin_api,
        train=CATEGORICAL_TRAIN,
        test=CATEGORICAL_TEST,
        target_column="label",
        text_column="",
        categorical_columns="colour",
    )
    assert answer.status_code == 400
    assert answer.json()["problems"][0]["column"] == "colour"
    assert _nothing_stored(settings)


@pytest.fixture
def staff(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    return client


def test_the_staff_page_uploads_a_text_dataset(staff):
    answer = staff.post(
        "/staff/competitions/new/",
        {
            "source": "upload",
            "train_file": SimpleUploadedFile("train.csv", TRAIN),
            "test_file": SimpleUploadedFile("test.csv", TEST),
            "slug": "reviews",
            "title": "Reviews",
            "task_type": "classification",
            "target_column": "sentiment",
            "id_column": "id",
            "text_column": "review",
            "vocab_size": 64,
            "max_length": 12,
        },
        follow=True,
    )
    dataset = Dataset.objects.get(slug="reviews")
    assert answer.redirect_chain[-1][0] == f"/staff/competitions/new/{dataset.pk}/"
    assert dataset.manifest["inputs"]["kind"] == "tokens"


def test_the_staff_page_names_an_over_long_text_and_stores_nothing(staff, settings):
    answer = staff.post(
        "/staff/competitions/new/",
        {
            "source": "upload",
            "train_file": SimpleUploadedFile("train.csv", TRAIN + b"97," + b"good film " * 10 + b",pos\n"),
            "slug": "reviews",
            "title": "Reviews",
            "task_type": "classification",
            "target_column": "sentiment",
            "id_column": "id",
            "text_column": "review",
            "vocab_size": 64,
            "max_length": 12,
        },
    )
    assert answer.status_code == 200
    assert "more than the maximum length 12" in answer.content.decode()
    assert _nothing_stored(settings)


def test_the_admin_upload_stores_categorical_columns(staff):
    answer = staff.post(
        "/admin/competitions/dataset/upload/",
        {
            "slug": "shapes",
            "title": "Shapes",
            "task_type": "classification",
            "target_column": "label",
            "id_column": "id",
            "split_seed": 0,
            "categorical_columns": "color",
            "train_file": SimpleUploadedFile("train.csv", CATEGORICAL_TRAIN),
            "test_file": SimpleUploadedFile("test.csv", CATEGORICAL_TEST),
        },
        follow=True,
    )
    dataset = Dataset.objects.get(slug="shapes")
    assert answer.redirect_chain[-1][0] == f"/admin/competitions/dataset/{dataset.pk}/change/"
    assert list(dataset.manifest["inputs"]["categorical"]) == ["color"]

"""Uploading a dataset as CSV files, through the staff API: every bad upload is refused with
its file, row and column named, and leaves no row and no file behind."""

from __future__ import annotations

import pytest
from competition_helpers import media_files
from django.core.files.uploadedfile import SimpleUploadedFile

from podium.competitions.models import Dataset, DatasetFile

pytestmark = pytest.mark.django_db

TRAIN = b"id,f1,f2,label\n1,0.1,1.0,cat\n2,0.2,2.0,dog\n3,0.3,3.0,cat\n4,0.4,4.0,dog\n5,0.5,5.0,cat\n"
TEST = b"id,f1,f2,label\n10,0.1,1.5,zebra-cat\n11,0.9,9.0,dog\n12,0.7,7.0,cat\n"


def _post(client, train=TRAIN, test=TEST, **fields):
    data = {
        "slug": "pets",
        "title": "Pets",
        "task_type": "classification",
        "target_column": "label",
        "id_column": "id",
        **fields,
    }
    if train is not None:
        data["train_file"] = SimpleUploadedFile("train.csv", train, content_type="text/csv")
    if test is not None:
        data["test_file"] = SimpleUploadedFile("test.csv", test, content_type="text/csv")
    return client.post("/api/datasets/", data, format="multipart")


def _assert_nothing_stored(settings):
    assert Dataset.objects.count() == 0
    assert DatasetFile.objects.count() == 0
    assert media_files(settings) == []


def test_admin_uploads_a_dataset(admin_api, settings):
    good_test = TEST.replace(b"zebra-cat", b"cat")
    answer = _post(admin_api, test=good_test)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["slug"] == "pets" and body["version"] == 1 and body["source"] == "upload"
    assert body["manifest"]["classes"] == ["cat", "dog"]
    assert body["rows"] == {"train": 5, "test": 3}
    dataset = Dataset.objects.get(slug="pets")
    stored = {f.name: f for f in dataset.files.all()}
    assert set(stored) == {"train.csv", "test.csv", "sample_submission.csv", "test_labels.csv"}
    assert stored["test_labels.csv"].hidden and not stored["test.csv"].hidden
    with stored["test.csv"].file.open("rb") as fh:
        assert b"label" not in fh.read()  # the labels went to the hidden file only
    assert len(media_files(settings)) == 4
    # The same slug again makes version 2.
    again = _post(admin_api, test=good_test)
    assert again.status_code == 201 and again.json()["version"] == 2


def test_upload_without_test_file_holds_out_a_fraction(admin_api):
    rows = b"".join(f"{i},{i * 0.5},{i % 3},{'ab'[i % 2]}\n".encode() for i in range(40))
    answer = _post(admin_api, train=b"id,f1,f2,label\n" + rows, test=None, test_fraction=0.25)
    assert answer.status_code == 201, answer.json()
    assert answer.json()["rows"] == {"train": 30, "test": 10}


def _problems(answer):
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert "nothing was stored" in body["detail"]
    return body["problems"]


BAD_UPLOADS = [
    pytest.param(
        {"train": TRAIN.replace(b"id,", b"key,")},
        {"file": "train.csv", "row": 1, "column": "id", "message": "missing"},
        id="missing-id-column",
    ),
    pytest.param(
        {"test": TEST.replace(b",label", b",kind")},
        {"file": "test.csv", "row": 1, "column": "label", "message": "missing"},
        id="missing-target-column-in-test",
    ),
    pytest.param(
        {"train": TRAIN.replace(b",label", b",species")},
        {"file": "train.csv", "row": 1, "column": "label", "message": "missing"},
        id="missing-target-column",
    ),
    pytest.param(
        {"train": TRAIN.replace(b"3,0.3", b"2,0.3")},
        {"file": "train.csv", "row": 4, "column": "id", "message": "duplicate id '2'"},
        id="duplicate-ids",
    ),
    pytest.param(
        {"train": TRAIN.replace(b"4,0.4,4.0,dog", b"4,0.4,dog")},
        {"file": "train.csv", "row": 5, "column": None, "message": "3 values but the header has 4"},
        id="ragged-row",
    ),
    pytest.param(
        {"test": TEST.replace(b"0.9,9.0", b"0.9,nine")},
        {"file": "test.csv", "row": 3, "column": "f2", "message": "'nine' is not a finite number"},
        id="non-numeric-feature",
    ),
    pytest.param(
        {"train": b""},
        {"file": "train.csv", "row": None, "column": None, "message": "empty"},
        id="empty-file",
    ),
    pytest.param(
        {"test": b"id,f1,f2,label\n"},
        {"file": "test.csv", "row": None, "column": None, "message": "no data rows"},
        id="header-only",
    ),
    pytest.param(
        {},
        {
            "file": "test.csv",
            "row": 2,
            "column": "label",
            "message": "'zebra-cat' does not occur in train.csv",
        },
        id="unknown-test-label",
    ),
]


@pytest.mark.parametrize("files, expected", BAD_UPLOADS)
def test_bad_upload_names_file_row_column_and_stores_nothing(admin_api, settings, files, expected):
    answer = _post(admin_api, train=files.get("train", TRAIN), test=files.get("test", TEST))
    problems = _problems(answer)
    matching = [
        p
        for p in problems
        if p["file"] == expected["file"]
        and p["row"] == expected["row"]
        and p["column"] == expected["column"]
        and expected["message"] in p["message"]
    ]
    assert matching, problems
    _assert_nothing_stored(settings)


def test_file_over_the_cap_is_refused_while_streaming(admin_api, settings):
    settings.PODIUM_MAX_DATASET_FILE_BYTES = 100
    big = TRAIN + b"".join(f"{i},0.1,0.2,cat\n".encode() for i in range(100, 140))
    problems = _problems(_post(admin_api, train=big, test=TEST.replace(b"zebra-cat", b"cat")))
    assert problems == [
        {
            "file": "train.csv",
            "row": None,
            "column": None,
            "message": "the upload stopped: the file is larger than the limit of 100 bytes",
        }
    ]
    _assert_nothing_stored(settings)


def test_missing_fields_are_400(admin_api, settings):
    answer = _post(admin_api, train=None, title="")
    assert answer.status_code == 400
    assert set(answer.json()) >= {"train_file", "title"}
    _assert_nothing_stored(settings)


def test_bad_metric_for_task_is_refused(admin_api, settings):
    problems = _problems(_post(admin_api, test=TEST.replace(b"zebra-cat", b"cat"), metric="rmse"))
    assert "rmse" in problems[0]["message"]
    _assert_nothing_stored(settings)


def test_upload_is_staff_only(anon_api, alice_api, settings):
    good_test = TEST.replace(b"zebra-cat", b"cat")
    assert _post(anon_api, test=good_test).status_code in (401, 403)
    refused = _post(alice_api, test=good_test)
    assert refused.status_code == 403
    _assert_nothing_stored(settings)
    # Reading the dataset list stays public.
    assert anon_api.get("/api/datasets/").status_code == 200


def test_cap_holds_with_session_auth_and_csrf(admin_user, settings):
    """With a session, CSRF checking parses the body first: the cap must already be in place."""
    from django.test import Client

    settings.PODIUM_MAX_DATASET_FILE_BYTES = 100
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    big = TRAIN + b"".join(f"{i},0.1,0.2,cat\n".encode() for i in range(100, 140))
    data = {
        "slug": "pets",
        "title": "Pets",
        "task_type": "classification",
        "target_column": "label",
        "train_file": SimpleUploadedFile("train.csv", big),
        "test_file": SimpleUploadedFile("test.csv", TEST),
    }
    refused = client.post("/api/datasets/", data)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    data["train_file"].seek(0)
    data["test_file"].seek(0)
    answer = client.post("/api/datasets/", data, HTTP_X_CSRFTOKEN=_mask_cipher_secret(secret))
    problems = _problems(answer)
    assert [p["file"] for p in problems] == ["train.csv"]
    assert "upload stopped" in problems[0]["message"]
    _assert_nothing_stored(settings)

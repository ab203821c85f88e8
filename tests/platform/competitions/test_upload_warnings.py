"""An upload whose test rows are served elsewhere (another dataset's files or its own
train.csv) is stored, with a warning saying how many rows and which files, on the API, the
staff page and the admin."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from podium.competitions.models import Dataset
from tests.factories.competitions import make_dataset

pytestmark = pytest.mark.django_db


def _rows(dataset, name: str) -> list[list[str]]:
    with dataset.files.get(name=name).file.open("rb") as fh:
        return list(csv.reader(io.StringIO(fh.read().decode())))


def _csv(rows) -> bytes:
    return ("\n".join(",".join(row) for row in rows) + "\n").encode()


@pytest.fixture
def iris_copy(db):
    """An upload: train.csv of fresh flowers; test.csv with 3 rows of iris' train.csv (one
    written with more digits), 2 of its own train.csv and 5 fresh ones."""
    iris = make_dataset("iris")
    header, *served = _rows(iris, "train.csv")
    fresh = [
        [f"f{i}", *(f"{float(v) + 0.05:.2f}" for v in row[1:-1]), row[-1]] for i, row in enumerate(served)
    ]
    copied = [[f"c{i}", *row[1:]] for i, row in enumerate(served[:3])]
    copied[0][1] = f"{float(copied[0][1]):.9f}"
    own = [[f"o{i}", *row[1:]] for i, row in enumerate(fresh[:2])]
    new = [
        [f"n{i}", *(f"{float(v) + 0.025:.3f}" for v in row[1:-1]), row[-1]]
        for i, row in enumerate(served[:5])
    ]
    return _csv([header, *fresh]), _csv([header, *copied, *own, *new])


EXPECTED = [
    {
        "message": "3 of the 10 test rows (whose labels are hidden) are also rows of iris v1 train.csv: "
        "participants can look their labels up there",
        "rows": 3,
        "file": "iris v1 train.csv",
    },
    {
        "message": "2 of the 10 test rows (whose labels are hidden) are also rows of its own train.csv: "
        "participants can look their labels up there",
        "rows": 2,
        "file": "its own train.csv",
    },
]


def _warnings_in(page: str) -> list[str]:
    return re.findall(r"Warning: (\d+) of the 10 test rows[^<]*?rows of ([^:<]+):", page)


@pytest.mark.leaking_upload
def test_the_api_stores_the_upload_and_returns_the_warnings(admin_api, iris_copy):
    train, test = iris_copy
    answer = admin_api.post(
        "/api/datasets/",
        {
            "slug": "flowers",
            "title": "Flowers",
            "task_type": "classification",
            "target_column": "target",
            "train_file": SimpleUploadedFile("train.csv", train),
            "test_file": SimpleUploadedFile("test.csv", test),
        },
        format="multipart",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert sorted(body["warnings"], key=lambda w: w["file"]) == sorted(EXPECTED, key=lambda w: w["file"])
    assert body["rows"] == {"train": 112, "test": 10}
    assert Dataset.objects.filter(slug="flowers").exists()  # a warning, not a refusal


def test_a_clean_upload_has_no_warning(admin_api, iris_copy):
    train, test = iris_copy
    header, *rows = list(csv.reader(io.StringIO(test.decode())))
    answer = admin_api.post(
        "/api/datasets/",
        {
            "slug": "flowers",
            "title": "Flowers",
            "task_type": "classification",
            "target_column": "target",
            "train_file": SimpleUploadedFile("train.csv", train),
            "test_file": SimpleUploadedFile("test.csv", _csv([header, *rows[5:]])),
        },
        format="multipart",
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["warnings"] == []


@pytest.fixture
def staff(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.leaking_upload
def test_the_staff_page_shows_the_warnings(staff, iris_copy):
    train, test = iris_copy
    answer = staff.post(
        "/staff/competitions/new/",
        {
            "source": "upload",
            "train_file": SimpleUploadedFile("train.csv", train),
            "test_file": SimpleUploadedFile("test.csv", test),
            "slug": "flowers",
            "title": "Flowers",
            "task_type": "classification",
            "target_column": "target",
            "id_column": "id",
        },
        follow=True,
    )
    dataset = Dataset.objects.get(slug="flowers")
    assert answer.redirect_chain[-1][0] == f"/staff/competitions/new/{dataset.pk}/"
    page = answer.content.decode()
    assert sorted(_warnings_in(page)) == [("2", "its own train.csv"), ("3", "iris v1 train.csv")]
    assert 'class="alert alert-warning"' in page


@pytest.mark.leaking_upload
def test_the_admin_upload_shows_the_warnings(staff, iris_copy):
    train, test = iris_copy
    answer = staff.post(
        "/admin/competitions/dataset/upload/",
        {
            "slug": "flowers",
            "title": "Flowers",
            "task_type": "classification",
            "target_column": "target",
            "id_column": "id",
            "split_seed": 0,
            "train_file": SimpleUploadedFile("train.csv", train),
            "test_file": SimpleUploadedFile("test.csv", test),
        },
        follow=True,
    )
    dataset = Dataset.objects.get(slug="flowers")
    assert answer.redirect_chain[-1][0] == f"/admin/competitions/dataset/{dataset.pk}/change/"
    page = answer.content.decode()
    assert sorted(_warnings_in(page)) == [("2", "its own train.csv"), ("3", "iris v1 train.csv")]
    assert 'class="warning"' in page  # the admin's warning style

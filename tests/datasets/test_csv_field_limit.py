"""A CSV field longer than Python's csv reader takes (131,072 characters) is a located problem
of the file, in the header or in a row, in predictions files and in uploads alike: never a crash."""

import csv

import pytest

from datasets import catalog
from datasets.answer_key import make_answer_key
from datasets.predictions import PredictionError, parse_predictions
from datasets.upload import UploadError, bundle_from_upload

LONG = "x" * (csv.field_size_limit() + 1)
TOO_LONG = f"a value is longer than {csv.field_size_limit():,} characters, the most a CSV field may hold"


@pytest.fixture(scope="module")
def iris():
    b = catalog.build("iris")
    return b, make_answer_key(b.files["test_labels.csv"], b.manifest, seed=7, public_fraction=0.4)


def prediction_problems(data: bytes, iris, *, fast: bool) -> list[str]:
    b, key = iris
    with pytest.raises(PredictionError) as info:
        parse_predictions(data, answer_key=key, manifest=b.manifest, metric="accuracy", _fast=fast)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("fast", [True, False])
def test_an_over_long_header_field_of_a_predictions_file_is_row_1(iris, fast):
    data = f"id,{LONG}\n112,setosa\n".encode()
    assert prediction_problems(data, iris, fast=fast) == [f"row 1: {TOO_LONG}"]


@pytest.mark.parametrize("fast", [True, False])
def test_an_over_long_field_in_a_row_of_a_predictions_file_names_the_row(iris, fast):
    b, key = iris
    first = f"{key.ids[0]},{b.manifest['classes'][0]}\n"
    data = f"id,target\n{first}{key.ids[1]},{LONG}\n".encode()
    assert f"row 3: {TOO_LONG}" in prediction_problems(data, iris, fast=fast)


def upload_problems(train: bytes) -> list[str]:
    test = b"id,a,y\n10,0.5,cat\n11,1,dog\n"
    with pytest.raises(UploadError) as info:
        bundle_from_upload(
            train=train, test=test, slug="pets", title="Pets", task_type="classification", target_column="y"
        )
    return [str(p) for p in info.value.problems]


def test_an_over_long_header_field_of_an_upload_is_row_1():
    assert upload_problems(f"id,a,{LONG}\n1,0.5,cat\n".encode()) == [f"train.csv, row 1: {TOO_LONG}"]


def test_an_over_long_field_in_a_row_of_an_upload_names_the_row():
    train = f"id,a,y\n1,0.5,cat\n2,1,dog\n3,2,{LONG}\n".encode()
    assert upload_problems(train) == [f"train.csv, row 4: {TOO_LONG}"]

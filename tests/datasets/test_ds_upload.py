"""Admin uploads: every bad file is refused with a message naming file, row and column."""

import csv
import io

import pytest

from common.problems import Problem
from datasets.arrays import load_arrays
from datasets.streams import CHUNK
from datasets.upload import UploadError, bundle_from_upload

TRAIN = b"id,a,b,y\n1,0.5,2,cat\n2,1,3,dog\n3,2,1,cat\n4,0,0,dog\n"
TEST = b"id,a,b,y\n10,0.5,2,cat\n11,1,3,dog\n"


def upload(train=TRAIN, test=TEST, **kw):
    args = {"slug": "pets", "title": "Pets", "task_type": "classification", "target_column": "y"}
    args.update(kw)
    return bundle_from_upload(train=train, test=test, **args)


def problems(**kw) -> list[str]:
    with pytest.raises(UploadError) as info:
        upload(**kw)
    for p in info.value.problems:
        assert isinstance(p, Problem)
    return [str(p) for p in info.value.problems]


def test_a_good_upload_becomes_a_bundle_without_labels_in_test_csv():
    b = upload(test=b"id,b,a,y\n10,2,0.5,cat\n11,3,1,dog\n")  # column order may differ
    assert b.files["test.csv"] == b"id,a,b\n10,0.5,2\n11,1,3\n"
    assert b.files["test_labels.csv"] == b"id,y\n10,cat\n11,dog\n"
    assert b.files["train.csv"] == TRAIN
    assert b.files["sample_submission.csv"] == b"id,y\n10,cat\n11,cat\n"
    assert b.hidden == {"test_labels.csv"}
    m = b.manifest
    assert m["features"] == ["a", "b"] and m["classes"] == ["cat", "dog"] and m["input_shape"] == [2]
    assert m["rows"] == {"train": 4, "test": 2} and m["metric"] == "accuracy"
    arrays = load_arrays(b.files, m)
    assert arrays.y_train.tolist() == [0, 1, 0, 1]
    assert arrays.test_ids.tolist() == ["10", "11"]


def test_file_objects_with_read_or_chunks_and_a_byte_order_mark_are_accepted():
    class Uploaded:  # the shape of Django's UploadedFile
        def __init__(self, data):
            self.data = data

        def chunks(self):
            yield self.data[:7]
            yield self.data[7:]

    b = upload(train=io.BytesIO(b"\xef\xbb\xbf" + TRAIN), test=Uploaded(TEST))
    assert b.manifest["rows"] == {"train": 4, "test": 2}


def test_numeric_classes_sort_as_numbers_and_quoted_fields_work():
    train = b'id,a,y\n1,"1.5",10\n2,2,9\n3,3,10\n'
    b = upload(train=train, test=b"id,a,y\n7,1,9\n", target_column="y")
    assert b.manifest["classes"] == ["9", "10"]


def test_without_a_test_file_a_seeded_stratified_fraction_is_held_out():
    train = b"id,a,y\n" + b"".join(f"{i},{i},{'ab'[i % 2]}\n".encode() for i in range(100))
    a = upload(train=train, test=None, test_fraction=0.2, split_seed=3)
    b = upload(train=train, test=None, test_fraction=0.2, split_seed=3)
    assert a.files == b.files and a.manifest["split_seed"] == 3
    assert a.manifest["rows"] == {"train": 80, "test": 20}
    labels = [r[1] for r in csv.reader(io.StringIO(a.files["test_labels.csv"].decode()))][1:]
    assert labels.count("a") == labels.count("b") == 10
    c = upload(train=train, test=None, test_fraction=0.2, split_seed=4)
    assert c.files["test.csv"] != a.files["test.csv"]


def test_regression_upload():
    train = b"id,x,price\n1,1,10.5\n2,2,20\n3,3,1e3\n"
    b = upload(train=train, test=b"id,x,price\n9,4,7\n", task_type="regression", target_column="price")
    assert b.manifest["classes"] is None and b.manifest["metric"] == "rmse"
    assert load_arrays(b.files, b.manifest).y_train.tolist() == [10.5, 20.0, 1000.0]


def test_missing_id_column():
    assert problems(train=b"key,a,b,y\n1,1,1,cat\n") == [
        "train.csv, row 1, column 'id': the id column 'id' is missing from the header"
    ]


def test_missing_target_column():
    assert problems(train=b"id,a,b\n1,1,1\n") == [
        "train.csv, row 1, column 'y': the target column 'y' is missing from the header",
    ]


def test_test_file_without_labels():
    assert problems(test=b"id,a,b\n10,1,1\n") == [
        "test.csv, row 1, column 'y': the target (upload the test set with its labels) column 'y' is missing from the header"
    ]


def test_duplicate_ids():
    assert problems(train=TRAIN + b"2,1,1,cat\n") == [
        "train.csv, row 6, column 'id': duplicate id '2' (first on row 3)"
    ]


def test_ids_in_both_files():
    assert problems(test=b"id,a,b,y\n3,1,1,cat\n") == [
        "test.csv, row 2, column 'id': id '3' is also in train.csv"
    ]


def test_ragged_rows():
    assert problems(train=b"id,a,b,y\n1,1,1,cat\n2,1,dog\n3,1,1,dog,5\n4,1,1,dog\n") == [
        "train.csv, row 3: the row has 3 values but the header has 4 columns",
        "train.csv, row 4: the row has 5 values but the header has 4 columns",
    ]


def test_non_numeric_and_missing_features_name_row_and_column():
    assert problems(train=b"id,a,b,y\n1,1,1,cat\n2,abc,1,dog\n3,1,,cat\n4,inf,1,dog\n") == [
        "train.csv, row 3, column 'a': 'abc' is not a finite number; features must be numbers",
        "train.csv, row 5, column 'a': 'inf' is not a finite number; features must be numbers",
        "train.csv, row 4, column 'b': missing value; features must be numbers",
    ]


def test_regression_target_must_be_numeric():
    assert problems(
        train=b"id,x,p\n1,1,10\n2,2,cheap\n",
        test=b"id,x,p\n9,1,1\n",
        task_type="regression",
        target_column="p",
    ) == ["train.csv, row 3, column 'p': 'cheap' is not a finite number; regression targets must be numbers"]


def test_classification_needs_two_classes():
    assert problems(train=b"id,a,y\n1,1,cat\n2,2,cat\n", test=b"id,a,y\n9,1,cat\n") == [
        "train.csv, column 'y': has a single class 'cat'; classification needs at least two"
    ]


def test_test_labels_must_occur_in_train():
    assert problems(test=b"id,a,b,y\n10,1,1,fish\n") == [
        "test.csv, row 2, column 'y': label 'fish' does not occur in train.csv"
    ]


def test_test_columns_must_match_train_features():
    assert problems(test=b"id,a,c,y\n10,1,1,cat\n") == [
        "test.csv, row 1: the columns differ from train.csv's features: missing b; not in train.csv: c"
    ]


def test_empty_file_and_header_only():
    assert problems(train=b"") == ["train.csv: the file is empty"]
    assert problems(test=b"id,a,b,y\n") == ["test.csv: the file has a header but no data rows"]


def test_not_utf8_names_the_line():
    assert problems(train=b"id,a,b,y\n1,1,1,cat\n2,1,1,caf\xe9\n") == [
        "train.csv, row 3: the file is not UTF-8 text (first bad byte at offset 28); save it as UTF-8"
    ]


def test_size_cap_is_checked_while_reading():
    class Endless:
        def __init__(self):
            self.served = 0

        def read(self, n):
            self.served += n
            return b"1,2,3,cat\n" * (n // 10)

    stream = Endless()
    assert problems(train=stream, max_bytes=1000) == [
        "train.csv: the file is larger than the limit of 1,000 bytes"
    ]
    assert stream.served <= CHUNK  # stopped at the first chunk over the cap, not at the end
    assert problems(test=TEST + b"12,1,1,cat\n" * 3, max_bytes=60) == [
        "test.csv: the file is larger than the limit of 60 bytes"
    ]


def test_header_problems():
    assert problems(train=b"id,a,a,y\n1,1,1,cat\n") == [
        "train.csv, row 1, column 'a': this column name appears twice in the header"
    ]


def test_bad_arguments():
    assert problems(slug="Bad Slug", task_type="ranking") == [
        "slug 'Bad Slug' must be lower-case letters, digits and single dashes",
        "task type 'ranking' must be one of classification, regression",
    ]
    assert problems(metric="rmse") == ["metric 'rmse' is for regression, not classification"]
    assert problems(test=None, test_fraction=1.5) == ["test fraction 1.5 must be between 0 and 1"]
    assert problems(input_shape=[3]) == ["input shape [3] holds 3 values, not 2"]


def test_problems_are_capped_at_twenty_and_counted():
    train = b"id,a,y\n" + b"".join(f"{i},x,cat\n".encode() for i in range(50)) + b"99,1,dog\n"
    with pytest.raises(UploadError) as info:
        upload(train=train, test=b"id,a,y\n100,1,cat\n", target_column="y")
    err = info.value
    assert len(err.problems) == 20 and err.total > 20
    text = str(err)
    assert text.startswith(f"{err.total} problems in the upload:\n- train.csv, row 2, column 'a': 'x' is not")
    assert text.endswith(f"- … and {err.total - 20} more")


@pytest.mark.parametrize(
    "token,value", [("1e3", 1000.0), ("+2", 2.0), (".5", 0.5), ("5.", 5.0), (" 7 ", 7.0), ("00012", 12.0)]
)
def test_every_number_the_upload_accepts_loads_as_that_number(token, value):
    b = upload(train=f'id,a,y\n1,"{token}",x\n2,2,y\n'.encode(), test=b"id,a,y\n9,1,x\n")
    assert load_arrays(b.files, b.manifest).X_train[0, 0] == value


@pytest.mark.parametrize("token", ["0x10", "1_0", "１", "1,5", "Infinity", "NaN"])
def test_numbers_python_or_locales_would_accept_are_refused(token):
    message = f"{token!r} is not a finite number; features must be numbers"
    assert problems(train=f'id,a,y\n1,"{token}",x\n2,2,y\n'.encode(), test=b"id,a,y\n9,1,x\n") == [
        f"train.csv, row 2, column 'a': {message}"
    ]

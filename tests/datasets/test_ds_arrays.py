"""load_arrays: the worker's view of a dataset, from a folder or from bytes."""

import numpy as np
import pytest

from datasets import catalog
from datasets.arrays import DatasetFileError, load_arrays


def test_digits_from_a_folder_equals_from_bytes(tmp_path):
    b = catalog.build("digits")
    for name, data in b.public_files().items():
        (tmp_path / name).write_bytes(data)
    from_dir = load_arrays(tmp_path, b.manifest, verify=True)
    from_bytes = load_arrays(b.files, b.manifest)
    for a, c in zip(from_dir, from_bytes, strict=True):
        np.testing.assert_array_equal(a, c)
    assert from_dir.X_train.shape == (1078, 1, 8, 8) and from_dir.X_train.dtype == np.float32
    assert from_dir.X_test.shape == (360, 1, 8, 8)
    assert from_dir.y_train.dtype == np.int64 and set(from_dir.y_train.tolist()) == set(range(10))
    assert from_dir.test_ids[0] == "1078"


def test_values_and_labels_match_the_csv():
    b = catalog.build("iris")
    a = load_arrays(b.files, b.manifest)
    first = b.files["train.csv"].decode().splitlines()[1].split(",")
    np.testing.assert_array_equal(a.X_train[0], np.array(first[1:5], dtype=np.float32))
    assert b.manifest["classes"][a.y_train[0]] == first[5]


def test_series_and_regression_shapes():
    s = catalog.build("waveforms")
    a = load_arrays(s.files, s.manifest)
    assert a.X_train.shape == (1200, 2, 64)
    # channel-major columns: c0_t0..c0_t63 then c1_t0..
    row = s.files["train.csv"].decode().splitlines()[1].split(",")
    assert a.X_train[0, 1, 0] == np.float32(row[1 + 64])
    d = catalog.build("diabetes")
    r = load_arrays(d.files, d.manifest)
    assert r.y_train.dtype == np.float32 and r.X_train.shape == (331, 10)


def test_a_corrupt_copy_is_refused_when_verifying():
    b = catalog.build("iris")
    files = dict(b.files)
    files["train.csv"] = files["train.csv"].replace(b"setosa", b"setosb", 1)
    with pytest.raises(DatasetFileError, match="train.csv does not match the manifest's sha256"):
        load_arrays(files, b.manifest, verify=True)
    with pytest.raises(
        DatasetFileError, match="train.csv has label 'setosb', which is not among the manifest's classes"
    ):
        load_arrays(files, b.manifest)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetFileError, match="train.csv does not exist"):
        load_arrays(tmp_path, catalog.build("iris").manifest)

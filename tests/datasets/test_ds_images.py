"""Image uploads: a zip of PNG/JPEG files and id,label CSVs -> a bundle with decoded arrays,
or an UploadError naming the file of every problem, with nothing produced."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from datasets.arrays import load_arrays
from datasets.bundle import sha256
from datasets.images import (
    TEST_ARCHIVE,
    TEST_ARRAY,
    TRAIN_ARCHIVE,
    TRAIN_ARRAY,
    Resize,
    bundle_from_image_upload,
    worker_files,
)
from datasets.upload import UploadError
from datasets.zips import ZipLimits
from tests.image_zips import jpeg, labelled_set, pixels, png, zip_of


def upload(members, train, test=None, **kw):
    kw.setdefault("slug", "pets")
    kw.setdefault("title", "Pets")
    if test is None and "test_fraction" not in kw:
        kw["test_fraction"] = 0.25
    return bundle_from_image_upload(images=zip_of(members), train=train, test=test, **kw)


def refused(*args, **kw) -> list[str]:
    with pytest.raises(UploadError) as info:
        upload(*args, **kw)
    return [str(p) for p in info.value.problems]


def test_a_valid_upload_decodes_once_into_uint8_arrays_with_their_sha256_in_the_manifest():
    members, train = labelled_set(12)
    test_members, test_csv = labelled_set(4, start=100)
    members.update(test_members)
    bundle = upload(members, train, test_csv)
    m = bundle.manifest
    assert m["input_shape"] == [3, 8, 8] and m["modality"] == "image" and m["features"] == []
    assert m["rows"] == {"train": 12, "test": 4} and m["classes"] == ["cat", "dog"]
    for name in (TRAIN_ARRAY, TEST_ARRAY, TRAIN_ARCHIVE, TEST_ARCHIVE, "train.csv", "test.csv"):
        assert m["files"][name]["sha256"] == sha256(bundle.files[name]) and not m["files"][name]["hidden"]
    assert m["files"]["test_labels.csv"]["hidden"] and "test_labels.csv" not in bundle.public_files()
    assert bundle.files["test.csv"].decode().splitlines() == ["id", "100", "101", "102", "103"]
    arrays = load_arrays(bundle.files, m, verify=True)
    assert arrays.X_train.dtype == np.uint8 and arrays.X_train.shape == (12, 3, 8, 8)
    # Row k of the array is the image of the k-th CSV row, channels first.
    assert np.array_equal(arrays.X_train[5], pixels(5).transpose(2, 0, 1))
    assert np.array_equal(arrays.X_test[2], pixels(102).transpose(2, 0, 1))
    assert list(arrays.test_ids) == ["100", "101", "102", "103"]
    with zipfile.ZipFile(io.BytesIO(bundle.files[TEST_ARCHIVE])) as z:
        assert sorted(z.namelist()) == [f"test/{i}.png" for i in range(100, 104)]
        assert z.read("test/101.png") == test_members["imgs/101.png"]
    assert set(worker_files(m)) == {"train.csv", "test.csv", TRAIN_ARRAY, TEST_ARRAY}


def test_the_same_upload_gives_the_same_bytes():
    members, train = labelled_set(8)
    a, b = upload(members, train), upload(members, train)
    assert a.manifest["files"] == b.manifest["files"]


def test_a_test_fraction_splits_images_with_their_rows_stratified():
    members, train = labelled_set(20)
    bundle = upload(members, train, test_fraction=0.25, split_seed=3)
    arrays = load_arrays(bundle.files, bundle.manifest)
    assert arrays.X_test.shape[0] == 4 and arrays.X_train.shape[0] == 16  # 2 of each class
    for k, i in enumerate(arrays.test_ids):
        assert np.array_equal(arrays.X_test[k], pixels(int(i)).transpose(2, 0, 1))


def test_grey_and_jpeg_images_are_read():
    members = {f"{k}.jpg": jpeg(pixels(k, channels=1)) for k in range(6)}
    train = b"id,label\n" + b"".join(f"{k},{k % 2}\n".encode() for k in range(6))
    bundle = upload(members, train, test_fraction=0.5)
    assert bundle.manifest["input_shape"] == [1, 8, 8]


def test_a_declared_resize_makes_mixed_sizes_one_size():
    members, train = labelled_set(6)
    members["imgs/0.png"] = png(pixels(0, size=(16, 12)))
    bundle = upload(members, train, resize=Resize(height=10, width=10), test_fraction=0.5)
    assert bundle.manifest["input_shape"] == [3, 10, 10]
    assert bundle.manifest["images"]["resize"] == [10, 10]


def test_mixed_sizes_without_a_resize_name_the_odd_image():
    members, train = labelled_set(6)
    members["imgs/4.png"] = png(pixels(4, size=(16, 12)))
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip/imgs/4.png: the size is 12x16 pixels")
    assert "choose a resize" in msg


def test_mixed_channel_counts_name_the_odd_image():
    members, train = labelled_set(6)
    members["imgs/2.png"] = png(pixels(2, channels=1))
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip/imgs/2.png: the channel count is 1 channel")


def test_a_corrupt_image_is_named():
    members, train = labelled_set(6)
    members["imgs/3.png"] = b"this is not a picture"
    (msg,) = refused(members, train)
    assert msg == "images.zip/imgs/3.png: is not a PNG or JPEG image (its content is not one)"


def test_a_truncated_image_is_named():
    members, train = labelled_set(6)
    whole = png(pixels(1, size=(64, 64)))
    members["imgs/1.png"] = whole[: len(whole) // 2]
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip/imgs/1.png: cannot be decoded, the file is corrupt or truncated")


def test_an_image_missing_for_an_id_names_the_row():
    members, train = labelled_set(6)
    del members["imgs/4.png"]
    (msg,) = refused(members, train)
    assert (
        msg
        == "train.csv, row 6, column 'id': no image for id '4' in images.zip (expected a file named '4'.png or .jpg)"
    )


def test_an_image_with_no_row_is_named():
    members, train = labelled_set(6)
    members["imgs/99.png"] = png(pixels(99))
    (msg,) = refused(members, train)
    assert msg == "images.zip/imgs/99.png: has no row in train.csv (its id would be '99')"


def test_a_non_image_file_is_named():
    members, train = labelled_set(6)
    members["imgs/notes.txt"] = b"hello"
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip/imgs/notes.txt: is not an image file")


def test_duplicate_ids_in_the_csv_and_in_the_zip_are_named():
    members, train = labelled_set(6)
    (msg,) = refused(members, train + b"3,dog\n")
    assert msg == "train.csv, row 8, column 'id': duplicate id '3' (first on row 5)"
    members, train = labelled_set(6)
    members["other/3.jpg"] = jpeg(pixels(3))
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip/other/3.jpg: is a second image for id '3'")


def test_a_test_id_also_in_train_is_named():
    members, train = labelled_set(6)
    (msg,) = refused(members, train, b"id,label\n2,cat\n")
    assert msg == "test.csv, row 2, column 'id': id '2' is also in train.csv"


def test_a_header_other_than_id_label_is_named():
    members, train = labelled_set(6)
    (msg,) = refused(members, train.replace(b"id,label", b"id,target"))
    assert (
        msg
        == "train.csv, row 1: the header must be id,label (the images hold the features): missing 'label'; unexpected 'target'"
    )


@pytest.mark.parametrize(
    "name, why",
    [
        ("../evil.png", "has '..' in its path"),
        ("imgs/../../evil.png", "has '..' in its path"),
        ("/etc/evil.png", "has an absolute path"),
        ("C:/evil.png", "has an absolute path"),
        ("imgs\\evil.png", "uses '\\' in its path"),
    ],
)
def test_a_zip_with_escaping_paths_is_refused_before_extracting(name, why):
    members, train = labelled_set(6)
    members[name] = png(pixels(7))
    (msg,) = refused(members, train)
    assert msg.startswith(f"images.zip: '{name}'") or msg.startswith(f"images.zip: {name!r}")
    assert why in msg and "nothing was extracted" in msg


def test_a_decompression_bomb_is_stopped_by_the_ratio_while_extracting():
    members, train = labelled_set(6)
    members["imgs/bomb.png"] = b"\0" * (20 * 1024 * 1024)
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip: 'imgs/bomb.png' inflates more than 200 times its compressed size")
    assert "extraction stopped" in msg


def test_the_inflated_total_is_capped_while_extracting():
    members, train = labelled_set(6)
    limits = ZipLimits(max_total_bytes=1000, max_ratio=10**9)
    with pytest.raises(UploadError) as info:
        bundle_from_image_upload(
            images=zip_of(members, zipfile.ZIP_STORED), train=train, slug="pets", title="P", zip_limits=limits
        )
    assert "brings the inflated total past the limit of 1,000 bytes" in str(info.value.problems[0])


def test_a_pixel_bomb_is_refused_from_its_header():
    members, train = labelled_set(6)
    members["imgs/0.png"] = png(np.zeros((4100, 4100), dtype=np.uint8))
    (msg,) = refused(members, train)
    assert msg.startswith("images.zip/imgs/0.png: is 4100x4100 pixels, more than the limit")


def test_an_upload_over_the_size_cap_is_refused():
    members, train = labelled_set(6)
    (msg,) = refused(members, train, max_bytes=500)
    assert msg == "images.zip: the file is larger than the limit of 500 bytes"


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(UploadError) as info:
        bundle_from_image_upload(images=b"PK nope", train=labelled_set(4)[1], slug="pets", title="P")
    assert str(info.value.problems[0]).startswith("images.zip: the file is not a readable zip archive")


def test_a_stored_array_is_read_without_unpickling():
    members, train = labelled_set(6)
    bundle = upload(members, train)
    files = dict(bundle.files)
    out = io.BytesIO()
    np.save(out, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    files[TRAIN_ARRAY] = out.getvalue()
    from datasets.arrays import DatasetFileError

    with pytest.raises(DatasetFileError, match="not a readable .npy array"):
        load_arrays(files, bundle.manifest)


def test_the_leak_check_finds_test_images_served_elsewhere():
    """An image test row is its pixels: one served in another dataset's images, exactly or
    re-saved with small changes, is found; fresh images are not."""
    from datasets.overlap import bundle_duplicates, served_files

    members, train = labelled_set(8)
    coarse = pixels(1) // 16 * 16
    members["imgs/1.png"] = png(coarse)
    other = upload(members, train, slug="other", test_fraction=0.25)
    test_members, test_csv = labelled_set(4, start=100)
    test_members["imgs/100.png"] = members["imgs/0.png"]  # the same file
    test_members["imgs/101.png"] = png(coarse + 3)  # every value 3 levels brighter
    fresh, fresh_csv = labelled_set(8, start=200, seed=7)
    mine = upload({**fresh, **test_members}, fresh_csv, test_csv, slug="mine")
    served = served_files("other", other)
    assert {f.name for f in served} == {"other train_images.npy", "other test_images.npy"}
    duplicates = bundle_duplicates(mine, served)
    assert duplicates.n_test == 4 and duplicates.n_rows == 2
    fresh_test, fresh_test_csv = labelled_set(4, start=300, seed=9)
    clean = upload({**fresh, **fresh_test}, fresh_csv, fresh_test_csv, slug="clean")
    assert bundle_duplicates(clean, served).n_rows == 0
    # Its own train images count too.
    own = upload(
        {**fresh, "imgs/300.png": fresh["imgs/200.png"]}, fresh_csv, b"id,label\n300,cat\n", slug="own"
    )
    assert bundle_duplicates(own, []).by_file == {"its own train_images.npy": 1}

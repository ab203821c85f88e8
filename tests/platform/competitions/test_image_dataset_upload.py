"""Uploading an image dataset through the staff API: a zip of PNG/JPEG files and id,label
CSVs become CSVs, decoded arrays and image archives; every bad upload is refused naming its
file, with no row and no file left behind; participants download what Kaggle would serve."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from competition_helpers import media_files
from django.core.files.uploadedfile import SimpleUploadedFile

from podium.competitions.models import Dataset, DatasetFile
from tests.factories.competitions import make_competition
from tests.image_zips import jpeg, labelled_set, pixels, png, zip_of

pytestmark = pytest.mark.django_db

URL = "/api/image-datasets/"


def _images():
    members, train = labelled_set(12)
    test_members, test = labelled_set(4, start=100)
    return {**members, **test_members}, train, test


def _post(client, members=None, train=None, test=None, *, images=None, **fields):
    default_members, default_train, default_test = _images()
    data = {"slug": "pets", "title": "Pets", **fields}
    data["images_file"] = SimpleUploadedFile(
        "images.zip", images if images is not None else zip_of(members or default_members)
    )
    data["train_file"] = SimpleUploadedFile("train.csv", train if train is not None else default_train)
    if test is not False:
        data["test_file"] = SimpleUploadedFile("test.csv", test if test is not None else default_test)
    return client.post(URL, data, format="multipart")


def _assert_nothing_stored(settings):
    assert Dataset.objects.count() == 0
    assert DatasetFile.objects.count() == 0
    assert media_files(settings) == []


def test_staff_upload_stores_csvs_arrays_and_archives(admin_api, settings):
    answer = _post(admin_api)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["rows"] == {"train": 12, "test": 4} and body["manifest"]["input_shape"] == [3, 8, 8]
    assert body["warnings"] == []
    dataset = Dataset.objects.get(slug="pets")
    stored = {f.name: f for f in dataset.files.all()}
    assert set(stored) == {
        "train.csv",
        "test.csv",
        "test_labels.csv",
        "sample_submission.csv",
        "train_images.npy",
        "test_images.npy",
        "train_images.zip",
        "test_images.zip",
    }
    assert [n for n, f in stored.items() if f.hidden] == ["test_labels.csv"]
    for name, row in stored.items():
        assert dataset.manifest["files"][name]["sha256"] == row.sha256
    with stored["train_images.npy"].file.open("rb") as fh:
        array = np.load(io.BytesIO(fh.read()), allow_pickle=False)
    assert array.dtype == np.uint8 and array.shape == (12, 3, 8, 8)
    assert len(media_files(settings)) == 8


def test_a_resize_is_declared_by_both_sides(admin_api, settings):
    members, train, test = _images()
    members["imgs/3.png"] = png(pixels(3, size=(12, 12)))
    answer = _post(admin_api, members, train, test, resize_height=8, resize_width=8)
    assert answer.status_code == 201, answer.json()
    assert answer.json()["manifest"]["images"]["resize"] == [8, 8]
    refused = _post(admin_api, members, train, test, slug="half", resize_height=8)
    assert refused.status_code == 400
    assert refused.json()["problems"][0]["message"] == "give both the resize height and width, or neither"


def test_only_staff_may_upload(anon_api, alice_api, settings):
    assert _post(anon_api).status_code == 401
    answer = _post(alice_api)
    assert answer.status_code == 403 and answer.json()["detail"] == "Only staff may upload datasets."
    _assert_nothing_stored(settings)


def _bad(kind):
    members, train, test = _images()
    if kind == "corrupt":
        members["imgs/3.png"] = b"not an image at all"
        return members, train, test, "images.zip/imgs/3.png", "is not a PNG or JPEG image"
    if kind == "truncated":
        whole = png(pixels(3, size=(64, 64)))
        members["imgs/3.png"] = whole[: len(whole) // 2]
        return members, train, test, "images.zip/imgs/3.png", "cannot be decoded"
    if kind == "missing":
        del members["imgs/102.png"]
        return members, train, test, "test.csv", "no image for id '102'"
    if kind == "no-row":
        members["imgs/55.png"] = png(pixels(55))
        return members, train, test, "images.zip/imgs/55.png", "has no row in train.csv or test.csv"
    if kind == "sizes":
        members["imgs/5.png"] = png(pixels(5, size=(9, 8)))
        return members, train, test, "images.zip/imgs/5.png", "the size is 8x9 pixels"
    if kind == "channels":
        members["imgs/5.png"] = jpeg(pixels(5, channels=1))
        return members, train, test, "images.zip/imgs/5.png", "the channel count is 1 channel"
    if kind == "not-image":
        members["imgs/readme.md"] = b"# my images"
        return members, train, test, "images.zip/imgs/readme.md", "is not an image file"
    if kind == "duplicate-id":
        return members, train + b"4,cat\n", test, "train.csv", "duplicate id '4'"
    if kind == "dotdot":
        members["../outside.png"] = png(pixels(1))
        return members, train, test, "images.zip", "has '..' in its path"
    if kind == "bomb":
        members["imgs/bomb.png"] = b"\0" * (16 * 1024 * 1024)
        return members, train, test, "images.zip", "(a decompression bomb)"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "corrupt",
        "truncated",
        "missing",
        "no-row",
        "sizes",
        "channels",
        "not-image",
        "duplicate-id",
        "dotdot",
        "bomb",
    ],
)
def test_every_bad_upload_names_its_file_and_stores_nothing(admin_api, settings, kind):
    members, train, test, file, message = _bad(kind)
    answer = _post(admin_api, members, train, test)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["detail"] == "The upload was refused; nothing was stored."
    assert any(p["file"] == file and message in p["message"] for p in body["problems"]), body["problems"]
    _assert_nothing_stored(settings)


def test_an_upload_over_the_size_cap_is_refused_while_it_streams(admin_api, settings):
    settings.PODIUM_MAX_DATASET_FILE_BYTES = 2_000
    answer = _post(admin_api)
    assert answer.status_code == 400
    assert answer.json()["problems"] == [
        {
            "file": "images.zip",
            "row": None,
            "column": None,
            "message": "the upload stopped: the file is larger than the limit of 2,000 bytes",
        }
    ]
    _assert_nothing_stored(settings)


def test_participants_download_images_csvs_and_arrays_but_never_the_labels(
    admin_api, alice_api, bob_api, anon_api
):
    assert _post(admin_api).status_code == 201
    competition = make_competition("pets-cup", dataset=Dataset.objects.get(slug="pets"))
    assert (
        alice_api.post(f"/api/competitions/{competition.slug}/join/", {"accept_rules": True}).status_code
        == 200
    )
    listed = anon_api.get(f"/api/competitions/{competition.slug}/data/").json()
    assert {f["name"] for f in listed["files"]} == {
        "train.csv",
        "test.csv",
        "sample_submission.csv",
        "train_images.npy",
        "test_images.npy",
        "train_images.zip",
        "test_images.zip",
    }
    base = f"/api/competitions/{competition.slug}/data/"
    archive = alice_api.get(base + "test_images.zip")
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert sorted(z.namelist()) == [f"test/{i}.png" for i in range(100, 104)]
    array = alice_api.get(base + "train_images.npy")
    assert array["Content-Type"] == "application/octet-stream"
    assert np.load(io.BytesIO(b"".join(array.streaming_content)), allow_pickle=False).shape == (12, 3, 8, 8)
    test_csv = b"".join(alice_api.get(base + "test.csv").streaming_content)
    assert test_csv.splitlines()[0] == b"id"  # no label column
    assert alice_api.get(base + "test_labels.csv").status_code == 404
    assert bob_api.get(base + "test_images.zip").status_code == 403  # not joined
    assert anon_api.get(base + "test_images.zip").status_code == 403
    assert admin_api.get(base + "test_labels.csv").status_code == 404


@pytest.mark.leaking_upload
def test_test_images_served_by_another_dataset_are_warned_about(admin_api):
    assert _post(admin_api).status_code == 201
    members, train = labelled_set(8, start=500, seed=3)
    # The new test set's images are the first dataset's train images 0-3.
    first, _ = labelled_set(12)
    test_members = {f"t/{900 + k}.png": first[f"imgs/{k}.png"] for k in range(4)}
    test = b"id,label\n" + b"".join(
        f"{900 + k},{'cat' if k % 2 == 0 else 'dog'}\n".encode() for k in range(4)
    )
    answer = _post(admin_api, {**members, **test_members}, train, test, slug="copy")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["warnings"] == [
        {
            "message": "4 of the 4 test rows (whose labels are hidden) are also rows of pets v1 train_images.npy: "
            "participants can look their labels up there",
            "rows": 4,
            "file": "pets v1 train_images.npy",
        }
    ]

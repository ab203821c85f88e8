"""An admin creates a competition from uploaded CSVs through "New competition"; a
participant then joins it and submits to it."""

from __future__ import annotations

import pytest

from tests.web.conftest import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRAIN = "id,f1,f2,kind\n" + "".join(
    f"{i},{(i * 37 % 100) / 10:.1f},{(i * 11 % 50) / 10:.1f},{'cat' if i % 3 else 'dog'}\n"
    for i in range(1, 61)
)
TEST = "id,f1,f2,kind\n" + "".join(
    # f2 in hundredths, where the train rows hold tenths: no test row is also a train row.
    f"{i},{(i * 13 % 100) / 10:.1f},{(i * 7 % 50) / 10 + 0.05:.2f},{'cat' if i % 2 else 'dog'}\n"
    for i in range(100, 130)
)


def test_admin_creates_a_competition_from_csv_and_a_participant_submits(browser, admin_user, alice, tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text(TRAIN)
    test.write_text(TEST)
    bad = tmp_path / "bad.csv"
    bad.write_text(TRAIN.replace("kind\n", "label\n", 1))

    page = browser.new_page()
    login(page, "admin")
    page.get_by_role("link", name="New competition").click()
    shot(page, "staff-new-competition")

    # A train.csv without the target column: every problem listed, nothing stored.
    page.get_by_label("train.csv", exact=True).set_input_files(str(bad))
    page.get_by_label("Slug").fill("pets")
    page.get_by_label("Title").fill("Pets")
    page.get_by_label("Task type").select_option("classification")
    page.get_by_label("Target column").fill("kind")
    page.get_by_role("button", name="Validate dataset").click()
    problems = page.get_by_test_id("upload-problems")
    assert "kind" in problems.inner_text()
    from podium.competitions.models import Dataset

    assert not Dataset.objects.filter(slug="pets").exists()

    page.get_by_label("train.csv", exact=True).set_input_files(str(train))
    page.get_by_label("test.csv (with its labels)").set_input_files(str(test))
    page.get_by_label("Target column").fill("kind")
    page.get_by_role("button", name="Validate dataset").click()
    report = page.get_by_test_id("validation-report")
    report.wait_for()
    assert "60 train · 30 test" in report.inner_text()
    assert "hidden, never served" in report.inner_text()
    shot(page, "staff-validation-report")

    page.get_by_label("Title").fill("Cats or dogs")
    page.get_by_label("Budget epochs").fill("5")
    page.get_by_role("button", name="Create competition").click()
    page.wait_for_url("**/c/pets/")
    assert page.locator(".comp-head h1").inner_text() == "Cats or dogs"
    page.get_by_role("button", name="Log out").click()

    login(page, "alice")
    page.goto("/c/pets/rules/")
    page.get_by_label("I accept the rules of this competition").check()
    page.get_by_role("button", name="Accept the rules and join").click()
    page.wait_for_url("**/data/")
    assert "test_labels" not in page.content()

    page.get_by_role("navigation", name="Competition sections").get_by_role("link", name="Submit").click()
    page.get_by_role("link", name="Predictions CSV").click()
    preds = tmp_path / "preds.csv"
    # Wrong: a missing row is named with its line.
    preds.write_text("id,kind\n" + "".join(f"{i},cat\n" for i in range(100, 129)))
    page.get_by_label("Predictions CSV").set_input_files(str(preds))
    page.get_by_role("button", name="Upload predictions").click()
    assert page.get_by_test_id("file-errors").is_visible()
    shot(page, "submit-predictions-error")

    preds.write_text("id,kind\n" + "".join(f"{i},cat\n" for i in range(100, 130)))
    page.get_by_label("Predictions CSV").set_input_files(str(preds))
    page.get_by_role("button", name="Upload predictions").click()
    page.wait_for_url("**/c/pets/submissions/")
    assert page.get_by_text("received").is_visible()
    row = page.get_by_test_id("my-rows").locator("tr").first
    assert row.get_by_test_id("status").inner_text() in {"Queued", "Scoring", "Scored"}


def test_admin_creates_an_image_competition_from_a_zip(browser, admin_user, tmp_path):
    """The "Upload images (zip)" source: a bad image is named with nothing stored; then the
    images become the dataset, and the report lists the arrays and archives beside the CSVs."""
    from podium.competitions.models import Dataset
    from tests.image_zips import labelled_set, zip_of

    members, train = labelled_set(24)
    test_members, test = labelled_set(8, start=100)
    files = {
        "images.zip": zip_of({**members, **test_members}),
        "bad.zip": zip_of({**members, **test_members, "imgs/5.png": b"broken"}),
        "train.csv": train,
        "test.csv": test,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    page = browser.new_page()
    login(page, "admin")
    page.goto("/staff/competitions/new/")
    page.get_by_text("Upload images (zip)").click()
    assert page.get_by_label("images.zip").is_visible()
    page.get_by_label("images.zip").set_input_files(str(tmp_path / "bad.zip"))
    page.get_by_label("train.csv", exact=True).set_input_files(str(tmp_path / "train.csv"))
    page.get_by_label("test.csv (with its labels)").set_input_files(str(tmp_path / "test.csv"))
    page.get_by_label("Slug").fill("pet-pictures")
    page.get_by_label("Title").fill("Pet pictures")
    page.get_by_label("Task type").select_option("classification")
    page.get_by_label("Target column").fill("label")
    page.get_by_role("button", name="Validate dataset").click()
    problems = page.get_by_test_id("upload-problems")
    assert "images.zip/imgs/5.png" in problems.inner_text()
    assert "is not a PNG or JPEG image" in problems.inner_text()
    assert not Dataset.objects.filter(slug="pet-pictures").exists()

    page.get_by_label("images.zip").set_input_files(str(tmp_path / "images.zip"))
    page.get_by_label("train.csv", exact=True).set_input_files(str(tmp_path / "train.csv"))
    page.get_by_label("test.csv (with its labels)").set_input_files(str(tmp_path / "test.csv"))
    page.get_by_role("button", name="Validate dataset").click()
    report = page.get_by_test_id("validation-report")
    report.wait_for()
    text = report.inner_text()
    assert "24 train · 8 test" in text and "train_images.npy" in text and "test_images.zip" in text
    shot(page, "staff-image-validation-report")
    page.get_by_label("Budget epochs").fill("5")
    page.get_by_role("button", name="Create competition").click()
    page.wait_for_url("**/c/pet-pictures/")

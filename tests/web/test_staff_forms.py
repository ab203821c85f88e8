"""The staff pages' forms (issue 17, part 8): a dataset upload under an existing slug asks
before storing a new version (here and in the admin), and the competition form shows every
error in one round and offers only the metrics that can score its dataset."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from podium.competitions.models import Competition, Dataset
from tests.factories.competitions import make_competition

pytestmark = pytest.mark.django_db

TRAIN = b"id,f1,f2,label\n1,0.1,1.0,cat\n2,0.2,2.0,dog\n3,0.3,3.0,cat\n4,0.4,4.0,dog\n5,0.5,5.0,cat\n6,0.6,6.0,dog\n"
TEST = b"id,f1,f2,label\n10,0.1,1.5,cat\n11,0.9,9.0,dog\n"


@pytest.fixture
def staff(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def _staff_upload(staff, **extra):
    data = {
        "source": "upload",
        "train_file": SimpleUploadedFile("train.csv", TRAIN),
        "test_file": SimpleUploadedFile("test.csv", TEST),
        "slug": "pets",
        "title": "Pets",
        "task_type": "classification",
        "target_column": "label",
        "id_column": "id",
        **extra,
    }
    return staff.post("/staff/competitions/new/", data)


def _field_errors(html: str, field: str) -> list[str]:
    block = re.search(rf'<ul class="errorlist" id="id_{field}_error"[^>]*>(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block[1]) if block else []


def test_an_existing_slug_asks_before_storing_a_new_version(staff):
    assert _staff_upload(staff).status_code == 302
    assert list(Dataset.objects.filter(slug="pets").values_list("version", flat=True)) == [1]

    again = _staff_upload(staff)
    assert again.status_code == 200
    errors = _field_errors(again.content.decode(), "slug")
    assert errors and "exists (v1)" in errors[0] and "as v2" in errors[0]
    assert Dataset.objects.filter(slug="pets").count() == 1  # nothing stored

    asked = _staff_upload(staff, new_version="on")
    assert asked.status_code == 302
    assert sorted(Dataset.objects.filter(slug="pets").values_list("version", flat=True)) == [1, 2]
    # Asking for a new version of a slug that does not exist is refused too.
    fresh = _staff_upload(staff, slug="birds", new_version="on")
    assert "No dataset has the slug" in _field_errors(fresh.content.decode(), "slug")[0].replace(
        "&ldquo;", ""
    )
    assert not Dataset.objects.filter(slug="birds").exists()


def test_the_admin_upload_asks_too(staff):
    url = "/admin/competitions/dataset/upload/"
    data = {
        "slug": "pets",
        "title": "Pets",
        "task_type": "classification",
        "target_column": "label",
        "id_column": "id",
        "split_seed": 0,
    }

    def post(**extra):
        files = {
            "train_file": SimpleUploadedFile("train.csv", TRAIN),
            "test_file": SimpleUploadedFile("test.csv", TEST),
        }
        return staff.post(url, {**data, **files, **extra})

    assert post().status_code == 302
    again = post()
    assert again.status_code == 200 and "exists (v1)" in again.content.decode()
    assert Dataset.objects.filter(slug="pets").count() == 1
    assert post(new_version="on").status_code == 302
    assert Dataset.objects.filter(slug="pets").count() == 2


def test_the_competition_form_shows_every_error_at_once_and_fits_metrics(staff):
    taken = make_competition("iris-cup")
    dataset = taken.dataset  # a classification dataset
    url = f"/staff/competitions/new/{dataset.pk}/"
    page = staff.get(url).content.decode()
    offered = re.findall(r'<option value="([a-z_0-9]+)"', page[page.index('name="metric"') :][:3000])
    assert "accuracy" in offered and "rmse" not in offered and "mae" not in offered

    answer = staff.post(
        url,
        {
            "slug": "iris-cup",  # taken
            "title": "",  # required
            "metric": "rmse",  # not for a classification
            "starts_at": "2030-01-02T00:00",
            "ends_at": "2030-01-01T00:00",  # before it starts
            "public_fraction": "0.3",
            "daily_limit": "5",
            "max_final_picks": "2",
            "budget_epochs": "30",
            "budget_params": "5000000",
            "budget_seconds": "600",
        },
    )
    html = answer.content.decode()
    assert answer.status_code == 200
    for field in ("slug", "title", "metric", "ends_at", "accepts_predictions"):
        assert _field_errors(html, field), f"{field}: no error in the first round"
    assert Competition.objects.count() == 1


def test_the_competition_form_sets_the_team_size(staff):
    dataset = make_competition("iris-cup").dataset
    answer = staff.post(
        f"/staff/competitions/new/{dataset.pk}/",
        {
            "slug": "iris-teams",
            "title": "Iris in teams",
            "metric": "accuracy",
            "starts_at": "2030-01-01T00:00",
            "ends_at": "2030-02-01T00:00",
            "public_fraction": "0.3",
            "daily_limit": "5",
            "max_final_picks": "2",
            "budget_epochs": "30",
            "budget_params": "5000000",
            "budget_seconds": "600",
            "max_team_size": "3",
            "accepts_predictions": "on",
        },
    )
    assert answer.status_code == 302
    assert Competition.objects.get(slug="iris-teams").max_team_size == 3
    rules = staff.get("/c/iris-teams/rules/").content.decode()
    assert "at most 3 members" in rules


def test_the_competition_form_sets_the_largest_sweep_and_the_ablation_compute(staff):
    dataset = make_competition("iris-cup").dataset
    url = f"/staff/competitions/new/{dataset.pk}/"
    fields = {
        "slug": "iris-sweeps",
        "title": "Iris with sweeps",
        "metric": "accuracy",
        "starts_at": "2030-01-01T00:00",
        "ends_at": "2030-02-01T00:00",
        "public_fraction": "0.3",
        "daily_limit": "5",
        "max_final_picks": "2",
        "budget_epochs": "30",
        "budget_params": "5000000",
        "budget_seconds": "600",
        "max_team_size": "3",
        "accepts_configs": "on",
    }
    # Out of range: both named, nothing stored.
    answer = staff.post(url, {**fields, "max_variants": "33", "lab_daily_epochs": "-1"})
    html = answer.content.decode()
    assert answer.status_code == 200
    assert _field_errors(html, "max_variants") and _field_errors(html, "lab_daily_epochs")
    assert not Competition.objects.filter(slug="iris-sweeps").exists()

    answer = staff.post(url, {**fields, "max_variants": "8", "lab_daily_epochs": "0"})
    assert answer.status_code == 302
    made = Competition.objects.get(slug="iris-sweeps")
    assert (made.max_variants, made.lab_daily_epochs) == (8, 0)
    rules = staff.get("/c/iris-sweeps/submit/").content.decode()
    assert "a sweep or an ensemble of up to 8 models" in rules

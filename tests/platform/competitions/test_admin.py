"""The Django admin: CSV upload with the validation report, competitions made through the service."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from competition_helpers import hidden_label_lines, media_files
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from podium.competitions.models import Competition, Dataset
from tests.factories.competitions import make_competition, make_dataset

pytestmark = pytest.mark.django_db

TRAIN = b"id,f1,f2,label\n1,0.1,1.0,cat\n2,0.2,2.0,dog\n3,0.3,3.0,cat\n4,0.4,4.0,dog\n"
TEST = b"id,f1,f2,label\n10,0.1,1.5,cat\n11,0.9,9.0,dog\n"
UPLOAD_URL = "/admin/competitions/dataset/upload/"


@pytest.fixture
def staff_client(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


def _csrf(client, url) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()


def _upload(client, train=TRAIN, test=TEST, with_token=True):
    data = {
        "slug": "pets",
        "title": "Pets",
        "task_type": "classification",
        "target_column": "label",
        "id_column": "id",
        "split_seed": 0,
        "train_file": SimpleUploadedFile("train.csv", train),
        "test_file": SimpleUploadedFile("test.csv", test),
    }
    if with_token:
        data["csrfmiddlewaretoken"] = _csrf(client, UPLOAD_URL)
    return client.post(UPLOAD_URL, data)


def test_admin_uploads_csv_dataset(staff_client):
    answer = _upload(staff_client)
    assert answer.status_code == 302
    dataset = Dataset.objects.get(slug="pets")
    assert answer["Location"].endswith(f"/admin/competitions/dataset/{dataset.pk}/change/")
    assert dataset.files.get(name="test_labels.csv").hidden


def test_admin_upload_shows_problems_and_stores_nothing(staff_client, settings):
    answer = _upload(staff_client, train=TRAIN.replace(b"3,0.3", b"2,0.3").replace(b"0.4,4.0", b"0.4,four"))
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "nothing was stored" in page
    assert "train.csv, row 4, column &#x27;id&#x27;: duplicate id &#x27;2&#x27;" in page
    assert "train.csv, row 5, column &#x27;f2&#x27;" in page
    assert not Dataset.objects.exists() and media_files(settings) == []


def test_admin_upload_over_the_cap(staff_client, settings):
    settings.PODIUM_MAX_DATASET_FILE_BYTES = 60
    answer = _upload(staff_client)
    assert answer.status_code == 200
    assert "larger than the upload limit" in answer.content.decode()
    assert not Dataset.objects.exists() and media_files(settings) == []


def test_admin_upload_checks_csrf(staff_client, settings):
    assert _upload(staff_client, with_token=False).status_code == 403
    assert not Dataset.objects.exists()


def test_upload_page_is_staff_only(alice, settings):
    client = Client()
    client.force_login(alice)
    answer = client.get(UPLOAD_URL)
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
    anon = Client().post(UPLOAD_URL, {"slug": "x"})
    assert anon.status_code == 302
    assert not Dataset.objects.exists()


def test_admin_creates_a_competition_through_the_service(staff_client, admin_user, alice):
    dataset = make_dataset("wine")
    url = "/admin/competitions/competition/add/"
    now = timezone.now()
    data = {
        "csrfmiddlewaretoken": _csrf(staff_client, f"{url}?dataset={dataset.pk}"),
        "slug": "wine-cup",
        "title": "Wine cup",
        "dataset": dataset.pk,
        "metric": "log_loss",
        "split_seed": 3,
        "public_fraction": 0.5,
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=30)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "daily_limit": 5,
        "max_final_picks": 2,
        "budget_epochs": 10,
        "budget_params": 100000,
        "budget_seconds": 60,
        "max_variants": 4,
        "lab_daily_epochs": 40,
        "max_team_size": 3,
        "accepts_predictions": "on",
        "accepts_configs": "on",
        "is_published": "on",
        "ladder_step": 0,
        "participations-TOTAL_FORMS": 0,
        "participations-INITIAL_FORMS": 0,
        "join_policy": "open",
        "hosts-TOTAL_FORMS": 1,
        "hosts-INITIAL_FORMS": 0,
        "hosts-0-user": alice.pk,
    }
    answer = staff_client.post(url, data)
    assert answer.status_code == 302, answer.content.decode()[-3000:]
    created = Competition.objects.get(slug="wine-cup")
    assert created.higher_is_better is False and created.task_type == "classification"
    assert created.answer_key_sha256 and created.n_public + created.n_private == 45
    assert created.created_by == admin_user
    assert created.lab_daily_epochs == 40
    # The host named in the form is added through the service, which audits it.
    assert list(created.hosts.values_list("user__username", "added_by__username")) == [("alice", "admin")]
    assert created.audit_events.filter(action="host_add", target="user alice").exists()
    assert created.max_team_size == 3  # the rules' team size goes through the service too
    assert created.max_variants == 4  # and the largest sweep or ensemble
    # A metric of the wrong task type is a form error, not a crash.
    data["slug"], data["metric"] = "wine-rmse", "rmse"
    data["hosts-TOTAL_FORMS"] = 0
    data["csrfmiddlewaretoken"] = _csrf(staff_client, url)
    refused = staff_client.post(url, data)
    assert (
        refused.status_code == 200 and "metric &#x27;rmse&#x27; is for regression" in refused.content.decode()
    )
    assert not Competition.objects.filter(slug="wine-rmse").exists()


def test_admin_pages_render(staff_client, admin_user, alice):
    from podium.accounts.services import api_token_create

    competition = make_competition()
    api_token_create(user=alice, name="laptop")
    labels = hidden_label_lines(competition.dataset)
    for url in [
        "/admin/",
        "/admin/competitions/dataset/",
        f"/admin/competitions/dataset/{competition.dataset.pk}/change/",
        "/admin/competitions/dataset/import-builtin/",
        "/admin/competitions/competition/",
        f"/admin/competitions/competition/{competition.pk}/change/",
        "/admin/competitions/participation/",
        "/admin/competitions/datasetfile/",
        "/admin/accounts/apitoken/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{alice.pk}/change/",
    ]:
        page = staff_client.get(url)
        assert page.status_code == 200, url
        # Staff see the key's fingerprint, never the labels themselves.
        assert not [line for line in labels if line in page.content], url


def test_admin_imports_builtin(staff_client):
    url = "/admin/competitions/dataset/import-builtin/"
    answer = staff_client.post(url, {"slug": "moons", "csrfmiddlewaretoken": _csrf(staff_client, url)})
    assert answer.status_code == 302
    assert Dataset.objects.filter(slug="moons").exists()


IMAGES_URL = "/admin/competitions/dataset/upload-images/"


def _upload_images(client, members, train, test):
    from tests.image_zips import zip_of

    data = {
        "slug": "pet-pictures",
        "title": "Pet pictures",
        "task_type": "classification",
        "target_column": "label",
        "id_column": "id",
        "split_seed": 0,
        "images_file": SimpleUploadedFile("images.zip", zip_of(members)),
        "train_file": SimpleUploadedFile("train.csv", train),
        "test_file": SimpleUploadedFile("test.csv", test),
        "csrfmiddlewaretoken": _csrf(client, IMAGES_URL),
    }
    return client.post(IMAGES_URL, data)


def test_admin_uploads_an_image_dataset_and_sees_each_bad_file(staff_client, settings):
    from tests.image_zips import labelled_set

    members, train = labelled_set(10)
    test_members, test = labelled_set(4, start=100)
    page = _upload_images(staff_client, {**members, **test_members, "imgs/notes.txt": b"x"}, train, test)
    assert page.status_code == 200
    assert "images.zip/imgs/notes.txt: is not an image file" in page.content.decode()
    assert not Dataset.objects.exists() and media_files(settings) == []
    answer = _upload_images(staff_client, {**members, **test_members}, train, test)
    assert answer.status_code == 302
    dataset = Dataset.objects.get(slug="pet-pictures")
    assert dataset.manifest["input_shape"] == [3, 8, 8]
    assert {f.name for f in dataset.files.all()} >= {"train_images.npy", "test_images.zip"}
    assert "Upload image dataset" in staff_client.get("/admin/competitions/dataset/").content.decode()

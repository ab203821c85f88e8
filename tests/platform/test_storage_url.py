"""PODIUM_STORAGE_URL -> the media storage: what each URL gives, and a clear refusal of each bad one."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import StorageHandler

from common.env import EnvError
from podium.storage_url import S3_MAX_MEMORY_BYTES, media_storage_from_url


def test_empty_is_the_filesystem_under_media_root():
    storage = media_storage_from_url("")
    assert storage.backend == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert storage.media_root is None  # MEDIA_ROOT (PODIUM_MEDIA_ROOT) stays in charge


def test_a_file_url_is_the_filesystem_under_that_folder(tmp_path):
    storage = media_storage_from_url(f"file://{tmp_path}/media%20files")
    assert storage.media_root == tmp_path / "media files"
    # The entry works as Django's STORAGES entry: a file saved lands in that folder.
    handler = StorageHandler({"default": {**storage.backend, "OPTIONS": {"location": storage.media_root}}})
    name = handler["default"].save("answer_keys/a.csv", ContentFile(b"id,target\n"))
    assert (tmp_path / "media files" / name).read_bytes() == b"id,target\n"


def test_an_s3_url_is_a_private_bucket_with_the_options_given():
    storage = media_storage_from_url(
        "s3://podium-media/some/prefix/?endpoint_url=http://minio:9000&region=eu-west-1"
    )
    assert storage.media_root is None
    assert storage.backend["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage.backend["OPTIONS"]
    assert options["bucket_name"] == "podium-media"
    assert options["location"] == "some/prefix"
    assert options["endpoint_url"] == "http://minio:9000"
    assert options["region_name"] == "eu-west-1"
    assert options["addressing_style"] == "path"  # MinIO and most self-hosted stores
    assert options["default_acl"] == "private"
    assert options["file_overwrite"] is False
    assert options["max_memory_size"] == S3_MAX_MEMORY_BYTES
    # django-storages accepts every option as given (an unknown one raises here).
    handler = StorageHandler({"default": storage.backend})
    assert handler["default"].bucket_name == "podium-media"


def test_aws_itself_needs_no_endpoint():
    options = media_storage_from_url("s3://podium-media?region=us-east-2").backend["OPTIONS"]
    assert options["endpoint_url"] is None and options["addressing_style"] == "auto"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/media", "unsupported scheme 'ftp' (use file:///path or s3://bucket)"),
        ("media", "unsupported scheme '' (use file:///path or s3://bucket)"),
        ("file://", "names no folder"),
        ("file:///", "names no folder"),
        ("file://server/share", "a file URL names no host"),
        ("file:///srv/media?x=1", "a file URL takes no options"),
        ("s3://", "names no bucket"),
        ("s3://ab", "'ab' is not a bucket name"),
        ("s3://bad_bucket", "'bad_bucket' is not a bucket name"),
        ("s3://key:secret@podium-media", "put no credentials in the URL; set AWS_ACCESS_KEY_ID"),
        ("s3://podium-media?endpoint=http://minio:9000", "unknown option(s) endpoint (known: endpoint_url"),
        ("s3://podium-media?region=a&region=b", "option(s) region given more than once"),
        ("s3://podium-media?region=", "region is empty"),
        (
            "s3://podium-media?endpoint_url=minio:9000",
            "endpoint_url='minio:9000' is not an http:// or https://",
        ),
        ("s3://podium-media?endpoint_url=http://minio:x", "has a port that is not a number"),
        ("s3://podium-media?addressing_style=sideways", "addressing_style='sideways' (use one of path"),
    ],
)
def test_a_bad_url_is_refused_naming_the_setting_and_the_problem(url, message):
    with pytest.raises(EnvError) as refused:
        media_storage_from_url(url)
    text = str(refused.value)
    assert text.startswith("PODIUM_STORAGE_URL"), text
    assert message in text, text
    if "key:secret" in url:
        assert "secret" not in text  # credentials are never echoed into a log


def test_the_default_storage_is_the_one_the_setting_names(settings, tmp_path):
    """Every file field stores through default_storage (none has a storage of its own), so the
    one setting moves all of them: datasets' files, answer keys, predictions, weights."""
    from django.apps import apps
    from django.core.files.storage import default_storage
    from django.db.models import FileField

    fields = [f for m in apps.get_models() for f in m._meta.get_fields() if isinstance(f, FileField)]
    assert {f"{f.model.__name__}.{f.name}" for f in fields} >= {
        "DatasetFile.file",
        "Competition.answer_key",
        "Submission.predictions",
        "Submission.weights",
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    for field in fields:
        assert field.storage is default_storage, field
    name = fields[0].storage.save("probe.txt", ContentFile(b"x"))
    assert type(default_storage._wrapped).__name__ == "InMemoryStorage"
    assert not Path(settings.MEDIA_ROOT, name).exists()  # it went to the store the setting named

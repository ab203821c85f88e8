"""`manage.py storage_check`: the media storage works and keeps hidden files hidden, before serving.

PODIUM_STORAGE_URL's syntax is checked when the settings load; this command checks the
rest, over the network, once per deployment (docker-compose.yml runs it before gunicorn):
a probe object can be written, read back and deleted with the platform's credentials, and,
on an S3-compatible store, an anonymous GET of it is refused. A bucket policy or ACL that
made objects public would serve the hidden answer keys to anyone: the command fails then.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

PROBE_FOLDER = "storage-check"


def _where() -> str:
    return settings.PODIUM_STORAGE_URL or f"the filesystem under {settings.MEDIA_ROOT}"


class Command(BaseCommand):
    help = "Write, read and delete a probe object in the media storage; on S3, check it is not public."

    def handle(self, *args, **options):
        body = uuid.uuid4().hex.encode()
        try:
            name = default_storage.save(f"{PROBE_FOLDER}/{uuid.uuid4().hex}.txt", ContentFile(body))
        except Exception as exc:
            raise CommandError(f"media storage ({_where()}): cannot write: {exc}") from exc
        try:
            with default_storage.open(name, "rb") as handle:
                if handle.read() != body:
                    raise CommandError(
                        f"media storage ({_where()}): the probe read back differs from what was written"
                    )
            public = self._anonymous_read_allowed(name)
        except CommandError:
            raise
        except Exception as exc:
            raise CommandError(f"media storage ({_where()}): cannot read: {exc}") from exc
        finally:
            default_storage.delete(name)
        if public:
            raise CommandError(
                f"media storage ({_where()}): objects are readable without credentials "
                "(a public bucket policy or ACL): hidden answer keys would be public. Make the bucket private."
            )
        self.stdout.write(f"media storage ({_where()}): write, read and delete work; objects are private")

    @staticmethod
    def _anonymous_read_allowed(name: str) -> bool:
        """GET the probe with no credentials and no signature, as anyone on the network could."""
        bucket_name = getattr(default_storage, "bucket_name", None)
        if bucket_name is None:
            return False  # the filesystem: nothing is served but through the platform's views
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import ClientError

        anonymous = boto3.client(
            "s3",
            endpoint_url=default_storage.endpoint_url,
            region_name=default_storage.region_name,
            config=Config(
                signature_version=UNSIGNED, s3={"addressing_style": default_storage.addressing_style}
            ),
        )
        try:
            anonymous.get_object(
                Bucket=bucket_name, Key="/".join(filter(None, [default_storage.location, name]))
            )
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                return False
            raise
        return True

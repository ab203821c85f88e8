"""PODIUM_STORAGE_URL as the media storage of Django's STORAGES setting: one setting chooses it.

- empty (the embedded defaults): the local filesystem under MEDIA_ROOT;
- ``file:///absolute/path``: the local filesystem under that folder (one machine, or a
  shared mount);
- ``s3://bucket/optional/prefix?endpoint_url=http://minio:9000&region=us-east-1``: any
  S3-compatible store through django-storages (several machines). Credentials come from
  the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables, never from the URL,
  so that it can be logged.

Every object is written private (no ACL grant to anyone) and downloads go through the
platform's views, which check access first: a hidden answer key is never readable from
the store without the platform's credentials. A URL that cannot work is refused when
the settings load, so a process with a bad one does not start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from common.env import EnvError

SETTING = "PODIUM_STORAGE_URL"
S3_QUERY_OPTIONS = ("endpoint_url", "region", "addressing_style")
ADDRESSING_STYLES = ("path", "virtual", "auto")
# A downloaded object stays in memory up to this size, then spills to a temporary file:
# a 200 MB dataset file streamed to a client must not sit in a web worker's memory.
S3_MAX_MEMORY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class MediaStorage:
    """The STORAGES["default"] entry, and the folder that replaces MEDIA_ROOT (file:// only)."""

    backend: dict
    media_root: Path | None = None


def media_storage_from_url(url: str) -> MediaStorage:
    """Parse PODIUM_STORAGE_URL; raise EnvError naming what is wrong."""
    url = url.strip()
    if not url:
        # No location option: FileSystemStorage follows MEDIA_ROOT, including a test's override.
        return MediaStorage({"BACKEND": "django.core.files.storage.FileSystemStorage"})
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return _file_storage(url, parsed)
    if parsed.scheme == "s3":
        return _s3_storage(url, parsed)
    raise EnvError(
        f"{SETTING}={url!r}: unsupported scheme {parsed.scheme!r} (use file:///path or s3://bucket)"
    )


def _file_storage(url: str, parsed) -> MediaStorage:
    if parsed.netloc not in ("", "localhost"):
        raise EnvError(f"{SETTING}={url!r}: a file URL names no host (write file:///absolute/path)")
    path = unquote(parsed.path)
    if not path or path == "/":
        raise EnvError(f"{SETTING}={url!r} names no folder (write file:///absolute/path)")
    if parsed.query:
        raise EnvError(f"{SETTING}={url!r}: a file URL takes no options (found {parsed.query!r})")
    return MediaStorage({"BACKEND": "django.core.files.storage.FileSystemStorage"}, Path(path))


def _s3_storage(url: str, parsed) -> MediaStorage:
    if parsed.username or parsed.password:
        raise EnvError(
            f"{SETTING}: put no credentials in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    bucket = parsed.hostname or ""
    if not bucket:
        raise EnvError(f"{SETTING}={url!r} names no bucket (write s3://bucket?endpoint_url=…)")
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in "-." for c in bucket):
        raise EnvError(
            f"{SETTING}={url!r}: {bucket!r} is not a bucket name (3 to 63 lowercase letters, digits, '-' or '.')"
        )
    query = parse_qs(parsed.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(S3_QUERY_OPTIONS))
    if unknown:
        raise EnvError(
            f"{SETTING}={url!r}: unknown option(s) {', '.join(unknown)} (known: {', '.join(S3_QUERY_OPTIONS)})"
        )
    repeated = sorted(k for k, v in query.items() if len(v) > 1)
    if repeated:
        raise EnvError(f"{SETTING}={url!r}: option(s) {', '.join(repeated)} given more than once")
    options = {k: v[0] for k, v in query.items()}
    endpoint = options.get("endpoint_url", "")
    if "endpoint_url" in options:
        endpoint_parts = urlparse(endpoint)
        if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.hostname:
            raise EnvError(
                f"{SETTING}={url!r}: endpoint_url={endpoint!r} is not an http:// or https:// address"
            )
        try:
            endpoint_parts.port  # noqa: B018  (a port that is not a number raises)
        except ValueError:
            raise EnvError(
                f"{SETTING}={url!r}: endpoint_url={endpoint!r} has a port that is not a number"
            ) from None
    if "region" in options and not options["region"]:
        raise EnvError(f"{SETTING}={url!r}: region is empty")
    style = options.get("addressing_style", "path" if endpoint else "auto")
    if style not in ADDRESSING_STYLES:
        raise EnvError(
            f"{SETTING}={url!r}: addressing_style={style!r} (use one of {', '.join(ADDRESSING_STYLES)})"
        )
    backend_options = {
        "bucket_name": bucket,
        "location": unquote(parsed.path).strip("/"),
        "endpoint_url": endpoint or None,
        "region_name": options.get("region") or None,
        "addressing_style": style,
        "signature_version": "s3v4",
        # Private objects; a name already taken gets a new one, as on the filesystem.
        "default_acl": "private",
        "file_overwrite": False,
        # Only meaningful for presigned URLs, which the platform does not hand out today:
        # should one ever be made, it is signed and short-lived.
        "querystring_auth": True,
        "querystring_expire": 300,
        "max_memory_size": S3_MAX_MEMORY_BYTES,
    }
    return MediaStorage({"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": backend_options})

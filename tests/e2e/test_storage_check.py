"""`manage.py storage_check` against a real S3-protocol server and the filesystem."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def test_a_private_bucket_passes_and_leaves_nothing_behind(s3_server, capsys):
    call_command("storage_check")
    assert "write, read and delete work; objects are private" in capsys.readouterr().out
    assert s3_server.keys() == []


def test_a_public_bucket_is_refused(s3_server):
    """A bucket policy that lets anyone read would serve the answer keys: the check fails."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{s3_server.bucket}/*",
            }
        ],
    }
    s3_server.client().put_bucket_policy(Bucket=s3_server.bucket, Policy=json.dumps(policy))
    with pytest.raises(CommandError, match="objects are readable without credentials"):
        call_command("storage_check")
    assert s3_server.keys() == []  # the probe is deleted even then


def test_a_missing_bucket_is_refused_naming_the_store(s3_server):
    s3_server.client().delete_bucket(Bucket=s3_server.bucket)
    with pytest.raises(
        CommandError, match=r"media storage \(s3://podium-\d+/media\?endpoint_url=.*\): cannot write"
    ):
        call_command("storage_check")


def test_the_filesystem_passes(settings, tmp_path, capsys):
    call_command("storage_check")
    assert f"the filesystem under {settings.MEDIA_ROOT}" in capsys.readouterr().out

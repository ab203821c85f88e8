"""A real S3-protocol server for the tests: moto's standalone server on a port of the test's own.

MinIO (what docker-compose.yml runs) cannot be installed here; moto's server speaks the same
HTTP protocol, signs and checks requests, and enforces object ACLs for anonymous reads,
which is what the storage tests need.
"""

from __future__ import annotations

import httpx

from tests.e2e.harness import free_port, wait_until

ACCESS_KEY = "podium-test-key"
SECRET_KEY = "podium-test-secret"
REGION = "us-east-1"


class S3Server:
    def __init__(self, bucket: str = "podium-media"):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.bucket = bucket
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def with_bucket(self, bucket: str) -> S3Server:
        """The same server, addressed through a new empty bucket (made here)."""
        view = object.__new__(S3Server)
        view.port, view.bucket, view._server = self.port, bucket, self._server
        view.client().create_bucket(Bucket=bucket)
        return view

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}/media?endpoint_url={self.endpoint}&region={REGION}"

    @property
    def credentials(self) -> dict[str, str]:
        """The environment a process needs to use the store with the platform's rights."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "PODIUM_STORAGE_URL": self.storage_url,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def _up(self) -> bool:
        try:
            httpx.get(self.endpoint, timeout=0.5)
            return True
        except httpx.HTTPError:
            return False

    def start(self) -> S3Server:
        self._server.start()
        wait_until(self._up, 15, f"the S3 server on {self.endpoint}")
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        self._server.stop()

    def keys(self) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in answer.get("Contents", []))

    def anonymous_get(self, key: str) -> httpx.Response:
        """GET an object as anyone on the network would: no signature, no credentials."""
        return httpx.get(f"{self.endpoint}/{self.bucket}/{key}", timeout=5)

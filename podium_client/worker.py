"""The compute tier's side of the worker protocol (docs/architecture.md).

Every call carries `Authorization: Worker <token>`: the signed, expiring token
of one attempt of a submission, or of a lab run (`resource="lab-runs"`: the same calls
under `/api/worker/lab-runs/{id}/`). Every callback is idempotent on the server, so all
of them are retried on network errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from podium_client.errors import Conflict
from podium_client.http import Http

# What a worker trains: an entry, or a lab run (an ablation's variant, a study's model).
RESOURCES = ("submissions", "lab-runs")


class WorkerClient:
    def __init__(
        self,
        base_url: str,
        submission_id: int,
        token: str,
        *,
        timeout: httpx.Timeout | float | None = None,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
        resource: str = "submissions",
    ):
        if resource not in RESOURCES:
            raise ValueError(f"resource must be one of {', '.join(RESOURCES)}, not {resource!r}")
        self.submission_id = int(submission_id)
        kwargs: dict[str, Any] = {"retries": retries, "user_agent": "podium-worker", "transport": transport}
        if timeout is not None:
            kwargs["timeout"] = timeout
        self.http = Http(base_url, f"Worker {token}", **kwargs)
        self.prefix = f"/api/worker/{resource}/{self.submission_id}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _post(self, action: str, body: dict) -> Any:
        return self.http.json("POST", f"{self.prefix}/{action}/", json=body, idempotent=True)

    def claim(self, attempt: int) -> dict:
        """The work order: config, dataset (manifest, files), metric, budget…; `Conflict` when stale."""
        return self._post("claim", {"attempt": attempt})

    def heartbeat(self, attempt: int) -> bool:
        """True to go on; False when the entry was cancelled or the attempt superseded (409)."""
        try:
            answer = self._post("heartbeat", {"attempt": attempt})
        except Conflict:
            return False
        return bool((answer or {}).get("continue", True))

    def epoch(self, attempt: int, epoch: int, data: dict) -> None:
        self._post("epochs", {"attempt": attempt, "epoch": epoch, "data": data})

    def epochs(self, attempt: int, records: list[tuple[int, dict]]) -> None:
        """Several epochs in one request: `records` of (epoch, data)."""
        self._post("epochs", {"attempt": attempt, "records": [{"epoch": e, "data": d} for e, d in records]})

    def predictions(
        self, attempt: int, csv: bytes, *, weights: bytes | None = None, report: dict | None = None
    ) -> dict | None:
        """Post the test predictions (and the weights, and the run's `common.protocol.RunReport`)."""

        def files() -> dict:
            parts = {"file": ("predictions.csv", csv, "text/csv")}
            if weights is not None:
                parts["weights"] = ("weights.safetensors", weights, "application/octet-stream")
            return parts

        response = self.http.request(
            "POST",
            f"{self.prefix}/predictions/",
            data={"attempt": str(attempt), **({"report": json.dumps(report)} if report is not None else {})},
            files_factory=files,
            idempotent=True,
        )
        return response.json() if response.content else None

    def fail(self, attempt: int, message: str, *, report: dict | None = None) -> None:
        body = {"attempt": attempt, "message": message[:2000]}
        if report is not None:
            body["report"] = report
        self._post("fail", body)

    @contextmanager
    def download(self, url: str) -> Iterator[httpx.Response]:
        """Stream a dataset file (the claim's download url, absolute or relative to the site)."""
        with self.http.stream(url) as response:
            yield response

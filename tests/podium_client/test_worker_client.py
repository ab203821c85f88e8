"""The worker's client speaks for an entry or a lab run (tests/e2e/test_ablation_pipeline.py
drives a lab run's callbacks against the real server); anything else is refused at once."""

from __future__ import annotations

import pytest

from podium_client.worker import RESOURCES, WorkerClient


def test_a_client_names_its_resource_in_every_path():
    for resource in RESOURCES:
        with WorkerClient("http://127.0.0.1:9", 7, "tok", resource=resource) as client:
            assert client.prefix == f"/api/worker/{resource}/7"
    with pytest.raises(ValueError, match="lab-runs"):
        WorkerClient("http://127.0.0.1:9", 7, "tok", resource="runs")

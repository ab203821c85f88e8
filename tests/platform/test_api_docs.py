"""The API docs: every operation of both schemas (participants', workers') has a summary and a
description of its own, the worker callbacks are only in theirs, and every endpoint the
`podium` CLI calls is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podium.api_operations import OPERATIONS

pytestmark = pytest.mark.django_db

CLIENT = Path(__file__).resolve().parents[2] / "podium_client" / "client.py"


def _schema(client, url: str) -> dict:
    answer = client.get(url, {"format": "json"})
    assert answer.status_code == 200
    return answer.json()


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


@pytest.fixture
def participants(client):
    return _schema(client, "/api/schema/")


@pytest.fixture
def workers(client):
    return _schema(client, "/api/worker/schema/")


@pytest.mark.parametrize("which", ["participants", "workers"])
def test_every_operation_has_a_summary_and_a_description_of_its_own(which, request):
    schema = request.getfixturevalue(which)
    operations = _operations(schema)
    assert operations
    seen: dict[str, str] = {}
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary", "").strip(), f"{where} has no summary"
        assert len(op.get("description", "").strip()) >= 20, f"{where} has no description"
        # An inherited docstring shows as the same text under two operations.
        assert op["description"] not in seen, (
            f"{where} repeats the description of {seen.get(op['description'])}"
        )
        seen[op["description"]] = where


def test_the_worker_callbacks_have_a_schema_of_their_own(participants, workers):
    assert not [p for p in participants["paths"] if p.startswith("/api/worker/")]
    assert sorted(workers["paths"]) == [
        "/api/worker/lab-runs/{run_id}/claim/",
        "/api/worker/lab-runs/{run_id}/epochs/",
        "/api/worker/lab-runs/{run_id}/fail/",
        "/api/worker/lab-runs/{run_id}/files/{dataset_slug}/{name}",
        "/api/worker/lab-runs/{run_id}/heartbeat/",
        "/api/worker/lab-runs/{run_id}/predictions/",
        "/api/worker/submissions/{submission_id}/claim/",
        "/api/worker/submissions/{submission_id}/epochs/",
        "/api/worker/submissions/{submission_id}/fail/",
        "/api/worker/submissions/{submission_id}/files/{dataset_slug}/{name}",
        "/api/worker/submissions/{submission_id}/heartbeat/",
        "/api/worker/submissions/{submission_id}/predictions/",
    ]
    assert workers["info"]["title"] == "Podium worker protocol"


def test_every_endpoint_the_cli_calls_is_documented(participants):
    calls = set(re.findall(r'"(GET|POST|DELETE)",\s*f?"(/api/[^"?]+)', CLIENT.read_text()))
    calls |= {("GET", path) for path in re.findall(r'_pages\(\s*f?"(/api/[^"?]+)', CLIENT.read_text())}
    calls |= {("GET", path) for path in re.findall(r'stream\(\s*f"(/api/[^"?]+)', CLIENT.read_text())}
    assert len(calls) >= 15, calls
    documented = [
        (
            method.upper(),
            re.compile(
                "^"
                + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
                + "$"
            ),
        )
        for path, method, _ in _operations(participants)
    ]
    for method, path in sorted(calls):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert any(m == method and pattern.match(concrete) for m, pattern in documented), f"{method} {path}"


def test_no_operation_text_is_left_over(participants, workers):
    ids = {op["operationId"] for _, _, op in _operations(participants) + _operations(workers)}
    assert set(OPERATIONS) <= ids, set(OPERATIONS) - ids

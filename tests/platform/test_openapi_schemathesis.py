"""The OpenAPI schema describes the API: schemathesis fuzzes every participant operation of a
live server, positive and negative cases and the schema's links, and every check passes.

The schema is read from the running server (`/api/schema/`), as a client generator reads it.
The run is seeded and bounded (a few examples per operation), so it is the same run every time
and fits in `make test` (about 40 seconds here). The worker callbacks (`/api/worker/`) are left
out: they take only a worker token, which names one submission and one attempt, so a participant's
run would get 401 from all of them; tests/platform/submissions test them with real tokens.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from podium.accounts.models import ApiToken
from tests.factories.accounts import make_api_token, make_user
from tests.factories.competitions import make_competition, make_participations
from tests.factories.leaderboards import make_entry
from tests.factories.submissions import make_submission
from tests.factories.teams import make_team

SEED = 12
# Every check but two that judge input validation, not the schema: a schema-valid request may
# still break a rule no schema holds (a wrong join code, a team name taken, the rules not
# accepted), and DRF takes "0" for 0 and ignores a page_size it cannot read.
EXCLUDED_CHECKS = "positive_data_acceptance,negative_data_rejection"


def _st() -> str:
    found = Path(sys.executable).with_name("st")
    return str(found) if found.exists() else shutil.which("st") or "st"


def _schemathesis(
    base_url: str, token_header: str, *, select: list[str], max_examples: int, tmp_path
) -> None:
    command = [
        _st(),
        "run",
        f"{base_url}/api/schema/",
        "--url",
        base_url,
        "--header",
        f"Authorization: {token_header}",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--no-color",
        "--output-truncate",
        "false",
        "--warnings",
        "off",
        *select,
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-4000:]


@pytest.fixture
def seeded(transactional_db):
    """A participant with an API token, in an open competition (joined, in a team, with entries
    of each kind and a scored one on the board), an upcoming one and a past one."""
    alice = make_user("alice")
    bob = make_user("bob")
    key = make_api_token(alice)
    # An id no fuzzer guesses, so that a fuzzed DELETE /api/tokens/{id}/ does not revoke the
    # token the run is authenticated with (the stateful links still revoke the ones it creates).
    ApiToken.objects.filter(user=alice).update(id=7_340_033_219)
    open_cup = make_competition("iris-cup", ends=7)
    make_competition("iris-later", starts=3, ends=10)
    past = make_competition("iris-past", starts=-10, ends=-1)
    make_participations(open_cup, alice, bob)
    make_participations(past, alice)
    make_team(open_cup, alice, name="Owls")
    make_entry(open_cup, bob, 0.9)
    entry = make_entry(open_cup, alice, 0.8)
    config = make_submission(open_cup, alice, kind="config", config={"version": 1}, status="queued")
    return {"key": key, "entry": entry, "config": config}


@pytest.mark.slow
def test_schemathesis_finds_no_failure_as_a_participant(live_server, seeded, tmp_path):
    _schemathesis(
        live_server.url,
        f"Token {seeded['key']}",
        select=["--exclude-path-regex", "^/api/worker/"],
        max_examples=5,
        tmp_path=tmp_path,
    )


def test_every_error_answer_refers_to_the_one_error_body(anon_api, db):
    schema = anon_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {
        "detail",
        "code",
        "problems",
        "total",
    }
    errors = [
        (path, method, status, response)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status >= "400"
    ]
    assert errors
    for path, method, status, response in errors:
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
            path,
            method,
            status,
        )
    lists = schema["paths"]["/api/competitions/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert lists["schema"]["$ref"].endswith("/PaginatedCompetitionListOutputList")


def test_an_unknown_api_url_answers_json_404(client, db):
    answer = client.get("/api/submissions/not-a-number/")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["detail"].startswith("No API resource at /api/submissions/not-a-number/")

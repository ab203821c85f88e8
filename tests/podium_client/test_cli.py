"""The `podium` command line against a real server (pytest-django's live_server: a
threaded WSGI server on a free port, serving the test database)."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from tests.e2e.helpers import iris_truth, predictions_csv
from tests.factories.accounts import make_api_token
from tests.factories.competitions import make_competition

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def competition(transactional_db):
    return make_competition("iris-cli", title="Iris from the terminal")


@pytest.fixture
def joined(competition, alice):
    from podium.competitions.services import competition_join

    competition_join(competition=competition, user=alice)
    return competition


def test_login_checks_the_token_and_saves_it_for_the_owner_only(cli, live_server, tmp_path):
    result = cli("login", "--url", live_server.url, "--token", cli.token, token=None)
    assert result.exit_code == 0, result.output
    assert "as alice" in result.output
    saved = tmp_path / "config" / "credentials.json"
    assert json.loads(saved.read_text()) == {"url": live_server.url, "token": cli.token}
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_login_with_a_wrong_token_saves_nothing(cli, live_server, tmp_path):
    result = cli("login", "--url", live_server.url, "--token", "not-a-token", token=None)
    assert result.exit_code == 1
    assert "error: Invalid or revoked API token.\n" in result.output
    assert "/api/" not in result.output  # one readable line: no method, no URL
    assert not (tmp_path / "config" / "credentials.json").exists()


def test_commands_needing_a_login_say_so(cli):
    result = cli("status", "1", token=None)
    assert result.exit_code == 1
    assert "not logged in: run `podium login`" in result.output


def test_competitions_lists_the_open_competition(cli, competition):
    result = cli("competitions")
    assert result.exit_code == 0, result.output
    assert "iris-cli" in result.output and "accuracy" in result.output


def test_download_writes_the_participant_files_with_their_hashes(cli, joined, tmp_path):
    result = cli("download", joined.slug, "--dest", tmp_path / "data")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert names == ["sample_submission.csv", "test.csv", "train.csv"]  # never test_labels.csv
    manifest_files = joined.dataset.manifest["files"]
    for name in ("train.csv", "test.csv"):
        data = (tmp_path / "data" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest_files[name]["sha256"]


def test_download_before_joining_explains_why(cli, competition, tmp_path):
    result = cli("download", competition.slug, "--dest", tmp_path / "data")
    assert result.exit_code == 1
    assert "Join the competition (accepting its rules) to download its data." in result.output
    assert not list((tmp_path / "data").glob("*.csv"))


def test_a_bad_csv_lists_its_problems_and_stores_nothing(cli, joined, tmp_path):
    from podium.submissions.models import Submission

    rows = iris_truth()
    first = min(rows, key=int)
    rows[first] = "rose"
    path = tmp_path / "bad.csv"
    path.write_bytes(predictions_csv(rows))
    result = cli("submit", joined.slug, path)
    assert result.exit_code == 1
    assert "error: The predictions file has 1 problem(s); nothing was stored." in result.output
    assert "'rose'" in result.output and "row 2" in result.output
    assert Submission.objects.count() == 0


def test_an_invalid_config_names_the_path(cli, joined, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(
        "version: 1\nmodel:\n  layers:\n    - conv2d: {channels: 8, kernel: 3}\n    - linear: {units: auto}\n"
    )
    result = cli("submit", joined.slug, "--config", path)
    assert result.exit_code == 1
    assert "model.layers[0].conv2d" in result.output


def test_submit_status_cancel_and_leaderboard(cli, joined, tmp_path):
    from podium.submissions.models import Submission

    path = tmp_path / "preds.csv"
    path.write_bytes(predictions_csv(iris_truth()))
    result = cli("submit", joined.slug, path, "-m", "perfect")
    assert result.exit_code == 0, result.output
    entry = Submission.objects.get()
    assert f"Submitted entry #{entry.pk} (predictions): scoring; 4 left today" in result.output

    status = cli("status", entry.pk)
    assert status.exit_code == 0, status.output
    assert "scoring" in status.output and "iris-cli" in status.output

    cancelled = cli("cancel", entry.pk)
    assert cancelled.exit_code == 0 and f"entry #{entry.pk}: cancelled" in cancelled.output
    again = cli("cancel", entry.pk)  # idempotent
    assert again.exit_code == 0

    board = cli("leaderboard", joined.slug)
    assert board.exit_code == 0, board.output
    assert "iris-cli: public leaderboard" in board.output


def test_someone_elses_entry_is_not_found(cli, joined, bob, tmp_path):
    from podium.competitions.services import competition_join

    competition_join(competition=joined, user=bob)
    path = tmp_path / "preds.csv"
    path.write_bytes(predictions_csv(iris_truth()))
    assert cli("submit", joined.slug, path, token=make_api_token(bob)).exit_code == 0
    from podium.submissions.models import Submission

    result = cli("status", Submission.objects.get().pk)
    assert result.exit_code == 1
    assert result.output == "error: No such submission.\n"


def test_submit_needs_exactly_one_of_file_or_config(cli, joined, tmp_path):
    result = cli("submit", joined.slug)
    assert result.exit_code == 2
    assert "give either a predictions FILE or --config CONFIG" in result.output

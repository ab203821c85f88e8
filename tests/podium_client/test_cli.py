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


def test_leaderboard_shows_the_other_metrics_as_columns(cli, alice):
    from tests.factories.leaderboards import make_entry

    competition = make_competition(
        "iris-columns-cli", metric="log_loss", extra_metrics=["accuracy", "macro_f1"]
    )
    make_entry(
        competition,
        alice,
        0.5,
        extra_scores={
            "accuracy": {"public": 0.75, "private": 0.7},
            "macro_f1": {"public": 0.625, "private": 0.6},
        },
    )
    board = cli("leaderboard", competition.slug)
    assert board.exit_code == 0, board.output
    header = next(line for line in board.output.splitlines() if "entrant" in line)
    assert (
        header.index("log_loss")
        < header.index("accuracy")
        < header.index("macro_f1")
        < header.index("entries")
    )
    row = next(line for line in board.output.splitlines() if "alice" in line)
    assert row.index("0.5") < row.index("0.75") < row.index("0.625")


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


def test_phases_and_the_phase_option_of_submit_and_leaderboard(cli, joined, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from podium.competitions import services
    from podium.submissions.models import Submission

    services.phase_update(
        phase=joined.phases.get(),
        slug="development",
        title="Development",
        ends_at=timezone.now() - timedelta(minutes=1),
        late_entries=True,
    )
    services.phase_create(competition=joined, slug="final", title="Final")
    listed = cli("phases", joined.slug)
    assert listed.exit_code == 0, listed.output
    assert "development" in listed.output and "final (current)" in listed.output

    path = tmp_path / "preds.csv"
    path.write_bytes(predictions_csv(iris_truth()))
    late = cli("submit", joined.slug, path, "--phase", "development")
    assert late.exit_code == 0, late.output
    assert Submission.objects.get().phase.slug == "development" and Submission.objects.get().is_late
    current = cli("submit", joined.slug, path)
    assert current.exit_code == 0, current.output
    assert Submission.objects.latest("id").phase.slug == "final"

    unknown = cli("submit", joined.slug, path, "--phase", "nope")
    assert unknown.exit_code == 1
    assert "has no phase 'nope'; its phases are 'development', 'final'" in unknown.output
    assert Submission.objects.count() == 2

    board = cli("leaderboard", joined.slug, "--phase", "development", "--late")
    assert board.exit_code == 0, board.output
    assert "iris-cli/development: public late leaderboard" in board.output

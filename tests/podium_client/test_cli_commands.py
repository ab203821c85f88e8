"""The rest of the `podium` command line against a real server (pytest-django's live_server):
join, files, download one file, validate, submissions, picks, the board as CSV, teams,
--version, completion, and errors as one readable line."""

from __future__ import annotations

import csv
import io
import socket

import pytest

from podium.competitions.models import Participation
from podium.submissions.models import Submission
from tests.e2e.helpers import iris_truth, predictions_csv
from tests.factories.accounts import make_api_token
from tests.factories.competitions import make_competition
from tests.factories.leaderboards import make_entry
from tests.factories.submissions import TINY_CONFIG

pytestmark = pytest.mark.django_db(transaction=True)

LONG_SLUG = "iris-from-the-terminal-with-a-rather-long-slug"


@pytest.fixture
def competition(transactional_db):
    return make_competition("iris-cli", title="Iris from the terminal", rules="Be kind. One account each.")


@pytest.fixture
def joined(competition, alice):
    from podium.competitions.services import competition_join

    competition_join(competition=competition, user=alice)
    return competition


# --- competitions, join, files, download ---------------------------------------------


def test_competitions_show_full_slugs_at_any_width(cli, competition):
    make_competition(LONG_SLUG, title="A long one")
    result = cli("competitions", COLUMNS="40")
    assert result.exit_code == 0, result.output
    assert LONG_SLUG in result.output and "iris-cli" in result.output


def test_competitions_as_csv(cli, competition):
    result = cli("competitions", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["slug"], r["metric"], r["status"], r["joined"]) for r in rows] == [
        ("iris-cli", "accuracy", "open", "")
    ]


def test_join_needs_the_rules_accepted_explicitly(cli, competition, alice):
    refused = cli("join", competition.slug)
    assert refused.exit_code == 1
    assert "Be kind. One account each." in refused.output  # the rules are shown first
    assert "podium join iris-cli --accept-rules" in refused.output
    assert not Participation.objects.filter(user=alice).exists()

    joined = cli("join", competition.slug, "--accept-rules")
    assert joined.exit_code == 0, joined.output
    assert "Joined iris-cli" in joined.output
    assert Participation.objects.get(user=alice).accepted_rules_at is not None
    assert "already joined" in cli("join", competition.slug).output


def test_files_lists_the_participant_files_only(cli, competition):
    result = cli("files", competition.slug)
    assert result.exit_code == 0, result.output
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        assert name in result.output
    assert "test_labels" not in result.output and "answer" not in result.output


def test_download_one_file(cli, joined, tmp_path):
    result = cli("download", joined.slug, "test.csv", "--dest", tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["test.csv"]
    missing = cli("download", joined.slug, "test_labels.csv", "--dest", tmp_path / "data")
    assert missing.exit_code == 1
    assert "iris-cli has no file 'test_labels.csv'; its files: " in missing.output


def test_download_before_joining_says_how_to_join(cli, competition, tmp_path):
    result = cli("download", competition.slug, "--dest", tmp_path / "data")
    assert result.exit_code == 1
    assert "join it with: podium join iris-cli --accept-rules" in result.output


# --- validate and submit -------------------------------------------------------------


def test_validate_a_config_stores_nothing(cli, joined, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(TINY_CONFIG)
    result = cli("validate", joined.slug, "--config", path)
    assert result.exit_code == 0, result.output
    assert "valid: 67 parameters" in result.output and "2 epochs (budget 30)" in result.output
    path.write_text(TINY_CONFIG.replace("epochs: 2", "epochs: 60"))
    over = cli("validate", joined.slug, "--config", path)
    assert over.exit_code == 1
    assert "train.epochs" in over.output and "nothing was stored" not in over.output
    assert Submission.objects.count() == 0


def test_validate_a_predictions_file(cli, joined, tmp_path):
    path = tmp_path / "preds.csv"
    path.write_bytes(predictions_csv(iris_truth()))
    result = cli("validate", joined.slug, path)
    assert result.exit_code == 0 and "valid: every test id has one prediction" in result.output
    assert Submission.objects.count() == 0


def test_a_config_passed_as_a_predictions_file_suggests_config(cli, joined, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(TINY_CONFIG)
    result = cli("submit", joined.slug, path)
    assert result.exit_code == 2
    assert f"pass it as --config {path}" in result.output
    assert Submission.objects.count() == 0


def test_submit_before_joining_says_how_to_join(cli, competition, tmp_path):
    path = tmp_path / "preds.csv"
    path.write_bytes(predictions_csv(iris_truth()))
    result = cli("submit", competition.slug, path)
    assert result.exit_code == 1
    assert result.output.startswith("error: You have not joined the competition 'iris-cli'.")
    assert "join it with: podium join iris-cli --accept-rules" in result.output


# --- entries, picks, the board -------------------------------------------------------


def test_submissions_status_and_picks(cli, joined, alice):
    first = make_entry(joined, alice, 0.9)
    second = make_entry(joined, alice, 0.95)
    listed = cli("submissions", joined.slug)
    assert listed.exit_code == 0, listed.output
    assert listed.output.index(f"│ {second.pk} ") < listed.output.index(f"│ {first.pk} ")  # newest first
    assert "0.95000" in listed.output

    none = cli("picks", joined.slug)
    assert "No final picks chosen in iris-cli: your best 2 public entries count." in none.output
    chosen = cli("picks", joined.slug, "--add", first.pk)
    assert chosen.exit_code == 0, chosen.output
    assert f"entry #{first.pk}: a final pick" in chosen.output and "final picks (1 of 2)" in chosen.output
    first.refresh_from_db()
    assert first.is_final_pick
    again = cli("picks", joined.slug, "--add", first.pk)  # already chosen: not toggled off
    assert again.exit_code == 0
    first.refresh_from_db()
    assert first.is_final_pick
    listed = cli("submissions", joined.slug)
    assert "final" in listed.output
    status = cli("status", first.pk)
    assert "final pick" in status.output
    dropped = cli("picks", joined.slug, "--remove", first.pk)
    assert f"entry #{first.pk}: not a final pick" in dropped.output
    first.refresh_from_db()
    assert not first.is_final_pick


def test_under_the_ladder_a_blank_public_score_says_why(cli, joined, alice):
    joined.ladder_enabled = True
    joined.ladder_step = 0.01
    joined.save(update_fields=["ladder_enabled", "ladder_step"])
    entry = make_entry(joined, alice, 0.9)
    status = cli("status", entry.pk)
    assert status.exit_code == 0, status.output
    shown = " ".join(status.output.split())
    assert "public score — (withheld under the Ladder until the private reveal; the board shows" in shown
    listed = cli("submissions", joined.slug)
    assert "— public scores: withheld under the Ladder until the private reveal" in listed.output


def test_status_watch_ends_with_a_newline(cli, joined, alice):
    entry = make_entry(joined, alice, 0.9)
    result = cli("status", entry.pk, "--watch")
    assert result.exit_code == 0, result.output
    assert "scored" in result.output and result.output.endswith("\n")
    assert not result.output.endswith("\n\n\n")


def test_leaderboard_download_writes_the_board_as_csv(cli, joined, alice, bob, tmp_path):
    from podium.competitions.services import competition_join

    competition_join(competition=joined, user=bob)
    make_entry(joined, alice, 0.9)
    make_entry(joined, bob, 0.8)
    shown = cli("leaderboard", joined.slug)
    assert shown.exit_code == 0, shown.output
    assert "iris-cli: public leaderboard (accuracy)" in shown.output
    target = tmp_path / "board.csv"
    result = cli("leaderboard", joined.slug, "--download", target)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [(r["rank"], r["entrant"]) for r in rows] == [("1", "alice"), ("2", "bob")]


# --- teams ---------------------------------------------------------------------------


def test_teams_create_join_mine_and_leave(cli, joined, alice, bob):
    from podium.competitions.services import competition_join

    competition_join(competition=joined, user=bob)
    created = cli("teams", "create", joined.slug, "Owls")
    assert created.exit_code == 0, created.output
    assert "Team Owls: alice" in created.output
    code = created.output.split("join code: ")[1].split()[0]
    bob_token = make_api_token(bob)
    asked = cli("teams", "join", joined.slug, code, token=bob_token)
    assert asked.exit_code == 0, asked.output
    assert "You asked to join team Owls" in asked.output
    request_id = asked.output.split("request #")[1].split(")")[0]
    pending = cli("teams", "requests", joined.slug)
    assert pending.exit_code == 0 and "bob" in pending.output
    accepted = cli("teams", "accept", joined.slug, request_id)
    assert accepted.exit_code == 0, accepted.output
    assert "Team Owls: alice, bob" in accepted.output
    listed = cli("teams", "list", joined.slug)
    assert "Owls" in listed.output and code not in listed.output
    assert "Team Owls: alice, bob" in cli("teams", "mine", joined.slug).output
    left = cli("teams", "leave", joined.slug, token=bob_token)
    assert left.exit_code == 0 and "You left your team in iris-cli." in left.output
    mine = cli("teams", "mine", joined.slug, token=bob_token)
    assert mine.exit_code == 1 and mine.output == "error: You are not in a team in 'iris-cli'.\n"


# --- the command line itself ---------------------------------------------------------


def test_version(cli):
    from importlib import metadata

    result = cli("--version")
    assert result.exit_code == 0
    assert result.output == f"podium {metadata.version('podium')}\n"


def test_shell_completion_is_offered():
    """`podium --show-completion` as a participant types it: in their shell (bash here), which
    the command finds among its parent processes (whatever started the test run)."""
    import subprocess
    import sys
    from pathlib import Path

    podium = Path(sys.executable).parent / "podium"
    # Not the script's last command: bash would exec it in its own place, leaving no shell above.
    script = f"'{podium}' --show-completion; status=$?; exit $status"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "_PODIUM_COMPLETE" in result.stdout and "complete " in result.stdout


def test_an_unreachable_site_is_one_line(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = cli("competitions", PODIUM_URL=f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert result.output.startswith(f"error: could not reach http://127.0.0.1:{port} (")
    assert result.output.count("\n") == 1

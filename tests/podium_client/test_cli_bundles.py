"""`podium export-bundle` and `podium import-bundle` against a real server (live_server)."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from typer.testing import CliRunner

from podium_client.cli import app
from tests.factories.accounts import make_api_token
from tests.factories.competitions import make_competition

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(live_server, tmp_path):
    runner = CliRunner()

    def invoke(*args, user):
        environ = {
            "PODIUM_URL": live_server.url,
            "PODIUM_CONFIG_DIR": str(tmp_path / "config"),
            "PODIUM_TOKEN": make_api_token(user),
            "COLUMNS": "200",
        }
        return runner.invoke(app, [str(a) for a in args], env=environ)

    return invoke


def test_staff_export_a_bundle_and_import_it_under_another_slug(run, admin_user, tmp_path):
    from podium.competitions.models import Competition

    cup = make_competition("iris-cli-bundle")
    path = tmp_path / "cup.zip"
    exported = run("export-bundle", cup.slug, "--dest", path, user=admin_user)
    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the hidden labels
    assert "competition.yaml" in zipfile.ZipFile(path).namelist()

    taken = run("import-bundle", path, user=admin_user)
    assert taken.exit_code == 1 and "exists already" in taken.output
    imported = run("import-bundle", path, "--slug", "iris-copy", user=admin_user)
    assert imported.exit_code == 0, imported.output
    assert "Imported iris-copy" in imported.output
    assert Competition.objects.get(slug="iris-copy").answer_key_sha256 == cup.answer_key_sha256


def test_a_bad_bundle_lists_its_problems(run, admin_user, tmp_path):
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("competition.yaml", "- not\n- a mapping\n")
    path = tmp_path / "bad.zip"
    path.write_bytes(bad.getvalue())
    answer = run("import-bundle", path, user=admin_user)
    assert answer.exit_code == 1 and "must be a mapping" in answer.output


def test_a_participant_cannot_export(run, alice):
    make_competition("iris-cli-bundle")
    answer = run("export-bundle", "iris-cli-bundle", user=alice)
    assert answer.exit_code == 1 and "hosts" in answer.output

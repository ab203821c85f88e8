"""Messages sent while these tests submit go to a private broker folder, never to var/broker."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from podium_client.cli import app
from tests.broker_folders import use_broker_folder
from tests.factories.accounts import make_api_token


@pytest.fixture(scope="session")
def _client_broker_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("broker")


@pytest.fixture(autouse=True)
def _broker_in_tmp(_client_broker_folder):
    return use_broker_folder(_client_broker_folder)


@pytest.fixture
def cli(live_server, tmp_path, alice):
    token = make_api_token(alice)
    runner = CliRunner()

    def run(*args, token=token, **env):
        environ = {
            "PODIUM_URL": live_server.url,
            "PODIUM_CONFIG_DIR": str(tmp_path / "config"),
            "COLUMNS": "200",
        }
        if token:
            environ["PODIUM_TOKEN"] = token
        environ.update(env)
        return runner.invoke(app, [str(a) for a in args], env=environ)

    run.token = token
    return run

"""Messages sent while these tests submit go to a private broker folder, never to var/broker."""

from __future__ import annotations

import pytest

from tests.broker_folders import use_broker_folder


@pytest.fixture(scope="session")
def _client_broker_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("broker")


@pytest.fixture(autouse=True)
def _broker_in_tmp(_client_broker_folder):
    return use_broker_folder(_client_broker_folder)

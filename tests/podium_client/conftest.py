"""Messages sent while these tests submit go to a private broker folder, never to var/broker."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_broker(tmp_path_factory):
    from podium.celery import app

    if str(app.conf.broker_url).startswith("filesystem://"):
        folder = tmp_path_factory.mktemp("broker")
        for sub in ("queue", "processed"):
            (folder / sub).mkdir()
        app.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
            app.amqp._producer_pool = None
    yield app

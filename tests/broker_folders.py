"""Private filesystem-broker folders for test suites that send Celery messages.

The suites share one process and one Celery app: a folder set once per session by one
suite would be replaced by the next suite's for the rest of the session (a scorer started
by an earlier suite's test then waited on a folder nobody wrote to). Each suite's fixture
therefore points the app at its folder before every test; it costs nothing when the app
already points there.
"""

from __future__ import annotations

from pathlib import Path


def use_broker_folder(folder: Path):
    """Point this process's Celery app at `folder` (filesystem broker only); returns the app."""
    from podium.celery import app

    if not str(app.conf.broker_url).startswith("filesystem://"):
        return app
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "control_folder": str(folder / "control"),
    }
    if app.conf.broker_transport_options != options:
        for name in ("queue", "processed", "control"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = options
        # Producers are pooled per broker URL in kombu's global registry, which knows nothing
        # of transport options: drop them all, or a send would reuse the old folder's pool.
        from kombu import pools

        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        pools.reset()
    return app

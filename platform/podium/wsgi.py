"""The WSGI application, with the request paths' imports done when a server loads it.

Django imports the URLconf, and the intake imports pandas (datasets.scoring) and
Celery's transport, on first use: without this, the first entry each server process
takes costs ~0.4 s more. The Submit page's technique catalog imports the model-config
schema (pydantic models, ~0.25 s) and is built from it once: done here too, or each
process's first Submit page took ~0.4 s. Only imports happen here, no connection is opened, so a
server that loads the application before forking its workers (gunicorn --preload)
shares them and opens nothing in the parent."""

import os

from django.core.wsgi import get_wsgi_application

from podium.request_body import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
application = ChunkedBodies(get_wsgi_application())


def _import_request_paths() -> None:
    from django.urls import get_resolver

    import datasets.scoring  # noqa: F401  (pandas and numpy: the intake's validator)
    from podium.celery import app
    from podium.web.examples import catalog

    get_resolver().url_patterns  # noqa: B018  (imports every view module)
    catalog()  # workers.spec and the Submit page's technique catalog
    app.amqp  # noqa: B018  (Celery's message machinery)
    with app.connection_for_write() as connection:  # kombu connects lazily: nothing is opened
        connection.get_transport_cls()


_import_request_paths()

"""The web tier's Celery app: the scorer and beat run it; the web server sends with it.

Training tasks live in the Django-free compute tier (workers.tasks) and are sent
by name, so the web tier never imports torch.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

app = Celery("podium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

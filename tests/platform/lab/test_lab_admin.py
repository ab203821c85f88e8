"""Staff look at ablations and lab runs in the admin (support), read only; the reaper's task
runs its service."""

from __future__ import annotations

import pytest
from django.test import Client

from podium.lab.models import LabRun, RunStatus
from tests.platform.lab.conftest import start_ablation

pytestmark = pytest.mark.django_db


def test_staff_see_an_ablation_and_its_runs_in_the_admin(admin_user, alice_api, entry, broker):
    ablation_id = start_ablation(alice_api, entry, ["optimizer:sgd"]).json()["id"]
    run = LabRun.objects.filter(ablation_id=ablation_id).first()
    client = Client()
    client.force_login(admin_user)
    for url, shown in (
        ("/admin/lab/ablation/", f"ablation #{ablation_id} of entry #{entry.pk}"),
        (f"/admin/lab/ablation/{ablation_id}/change/", "optimizer:sgd"),
        ("/admin/lab/labrun/", "baseline"),
        (f"/admin/lab/labrun/{run.pk}/change/", "baseline"),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert shown in page.content.decode(), url
    # Runs and ablations are made by the services (quota, validation, sending), never by hand.
    assert client.get("/admin/lab/labrun/add/").status_code == 403
    assert client.get("/admin/lab/ablation/add/").status_code == 403


def test_the_reap_task_requeues_through_the_service(alice_api, entry, broker, settings):
    from podium.lab.tasks import reap_stale_runs

    start_ablation(alice_api, entry, ["optimizer:sgd"])
    broker.take("gpu")
    settings.PODIUM_QUEUED_TIMEOUT = settings.PODIUM_QUEUED_TIMEOUT * 0
    assert reap_stale_runs() == {"requeued": 2, "failed": 0}
    assert set(LabRun.objects.values_list("status", "attempt")) == {(RunStatus.QUEUED, 2)}
    assert len(broker.take("gpu")) == 2

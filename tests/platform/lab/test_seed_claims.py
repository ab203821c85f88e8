"""`manage.py seed_claims`: the recorded run on an empty site, never over a site's own results."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from podium.lab.claims import claim_list
from podium.lab.claims_models import ClaimResult

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_claims", stdout=out)
    return out.getvalue()


def test_an_empty_site_gets_the_recorded_run_of_every_claim(client):
    assert "loaded (11 claims)" in seed()
    assert set(ClaimResult.objects.values_list("slug", flat=True)) == {c.slug for c in claim_list()}
    page = client.get("/claims/").content.decode()
    assert "not measured yet" not in page.lower()
    assert "reproduces" in page.lower()


def test_a_site_with_results_keeps_them(client):
    seed()
    ClaimResult.objects.filter(slug="dropout").update(commit="0123456789abcdef")
    assert "kept" in seed()
    assert ClaimResult.objects.get(slug="dropout").commit == "0123456789abcdef"
    assert ClaimResult.objects.count() == 11

"""The claims pages through Django's test client: the index with every claim's verdict, a
claim's page empty and with a stored result, for every persona; queries do not grow per claim."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from podium.lab.claims import claim_list
from tests.factories.lab import make_claim_result

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["anonymous", "participant", "admin"])
def visitor(request, client, alice, admin_user):
    """The pages are public: the platform's own measurements on built-in data."""
    if request.param == "participant":
        client.force_login(alice)
    elif request.param == "admin":
        client.force_login(admin_user)
    return client


def test_the_index_lists_every_claim_with_its_verdict(visitor):
    make_claim_result("vanishing-gradients")
    make_claim_result(
        "optimisers",
        scores={
            "sgd": [0.9, 0.91, 0.92],
            "sgd-lr0.1": [0.9, 0.9, 0.9],
            "momentum": [0.9, 0.92, 0.91],
            "rmsprop": [0.95, 0.95, 0.96],
            "adam": [0.96, 0.97, 0.96],
        },
    )
    page = visitor.get("/claims/")
    assert page.status_code == 200
    html = page.content.decode()
    for claim in claim_list():
        assert f'href="/claims/{claim.slug}/"' in html
    assert html.count("Not measured yet") == len(claim_list()) - 2
    assert "Reproduces" in html
    # momentum does not beat SGD beyond the seeds' noise here
    assert "Does not reproduce at this scale" in html
    assert 'aria-current="page">Claims</a>' in html


def test_the_site_navigation_links_the_claims(client):
    assert '<a href="/claims/"' in client.get("/").content.decode()


def test_a_claim_not_measured_says_so_with_its_quotes(visitor):
    page = visitor.get("/claims/batchnorm/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="claim-empty"' in html and "Not measured yet" in html
    assert "python manage.py run_claims --claim batchnorm" in html
    assert "Batch Normalization 通過在每層對輸入進行標準化" in html
    assert "allows higher learning rates" in html
    assert 'data-testid="claim-table"' not in html


def test_a_stored_result_shows_the_table_intervals_curves_and_the_run(visitor):
    make_claim_result("vanishing-gradients")
    page = visitor.get("/claims/vanishing-gradients/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="arm-row"') == 3
    # the sigmoid arm: mean 0.10 with its t interval over 3 seeds, each seed's score
    assert "0.1000" in html and "[0.0752, 0.1248]" in html and "0.1000 · 0.1100 · 0.0900" in html
    assert "42,250" in html
    assert "2026-11-30 17:00" in html and "0123456789abcdef0123456789abcdef01234567" in html
    assert "2-core KVM dev box" in html
    assert 'badge-ok" data-testid="verdict">Reproduces' in html
    assert html.count('data-testid="check"') == 4
    for name in ("claim-loss", "claim-metric", "claim-gradients", "claim-cost"):
        assert f'id="{name}"' in html
    gradients = json.loads(
        html.split('id="claim-gradients" type="application/json">')[1].split("</script>")[0]
    )
    assert gradients["log"] is True and gradients["labels"] == list(range(1, 11))
    first = gradients["series"][0]
    assert first["label"] == "10 sigmoid layers (Xavier init), first epoch"
    assert first["data"][0] < 1e-5 * first["data"][-1]


def test_a_claim_that_does_not_reproduce_says_why(visitor):
    make_claim_result(
        "cnn-images",
        scores={
            "cnn": [0.985, 0.99, 0.98],
            "mlp": [0.97, 0.975, 0.968],
            "logistic-regression": [0.975] * 3,
            "svc": [0.9806] * 3,
            "random-forest": [0.972, 0.975, 0.969],
        },
    )
    html = visitor.get("/claims/cnn-images/").content.decode()
    assert "Does not reproduce at this scale" in html
    why = html.split('data-testid="claim-why">')[1].split("</p>")[0]
    assert why.startswith("Does not hold at this scale:")
    assert "RBF support-vector machine on the pixels" in why and "points [" in why
    assert "(scikit-learn)" in html


def test_failed_runs_leave_the_claim_undecided_and_show_their_reason(visitor):
    make_claim_result("dropout", failed=("dropout",))
    html = visitor.get("/claims/dropout/").content.decode()
    assert "Undecided" in html and "seed 0 failed" in html and "The run diverged" in html


def test_an_unknown_claim_is_404(visitor):
    assert visitor.get("/claims/no-such-claim/").status_code == 404


def test_rerunning_replaces_the_stored_result(client):
    make_claim_result("dropout", scores={"no-dropout": [0.7, 0.71, 0.72], "dropout": [0.70, 0.72, 0.71]})
    assert "Does not reproduce" in client.get("/claims/dropout/").content.decode()
    make_claim_result("dropout", scores={"no-dropout": [0.7, 0.71, 0.72], "dropout": [0.80, 0.81, 0.82]})
    html = client.get("/claims/dropout/").content.decode()
    assert "Does not reproduce" not in html and "Reproduces" in html
    from podium.lab.claims_models import ClaimResult

    assert ClaimResult.objects.filter(slug="dropout").count() == 1


def test_the_index_does_not_query_per_claim(client):
    client.get("/claims/")
    with CaptureQueriesContext(connection) as none_stored:
        client.get("/claims/")
    for claim in claim_list():
        make_claim_result(claim.slug, scores={a.key: [0.5, 0.6, 0.7] for a in claim.arms})
    with CaptureQueriesContext(connection) as all_stored:
        client.get("/claims/")
    assert len(all_stored) == len(none_stored) <= 2


def test_the_recorded_run_loads_and_fills_every_page(client):
    """platform/podium/lab/fixtures/claim_results.json: docs/claims.md's run, for a site that
    shows it without training (`manage.py loaddata claim_results`)."""
    from django.core.management import call_command

    call_command("loaddata", "claim_results", verbosity=0)
    html = client.get("/claims/").content.decode()
    assert html.count('data-testid="verdict">Reproduces') == 2
    assert html.count('data-testid="verdict">Does not reproduce at this scale') == len(claim_list()) - 2
    for claim in claim_list():
        page = client.get(f"/claims/{claim.slug}/").content.decode()
        assert page.count('data-testid="arm-row"') == len(claim.arms), claim.slug
        assert "34276be0403ad7b140bf1be04f2588913cd3a415" in page

"""Metric plugins end to end: the example plugin package under tests/plugins is installed
with pip into a folder of its own, which goes on the path of gunicorn, the scorer and this
process; its metrics then appear in the API and the admin and are scored by the real
scorer. Its misbehaving metrics (one raises, one returns NaN, one never returns) fail
their entries with a reason, and the same scorer process goes on to score the next entry.

Installing into a folder (pip install --target) works on a clean clone, where `make test`
installs only `.[dev]`: nothing is added to the shared environment.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from podium_client.client import PodiumClient
from tests.e2e.helpers import iris_truth, predictions_csv, wait_final
from tests.factories.competitions import make_competition

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "plugins" / "podium-metric-example"
PLUGIN_METRICS = {"example_error_rate", "example_raises", "example_nan", "example_slow"}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The plugin installed by pip into a folder of its own (built from a copy: the build
    writes into its source folder)."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "source"
    shutil.copytree(PLUGIN_SOURCE, source)
    site = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


@pytest.fixture
def plugins_loaded(plugin_site):
    """This process sees the plugin as a server started with it on its path would: its
    metrics join METRICS through the same loader. Removed again after the test."""
    from datasets import metric_plugins
    from datasets.metrics import METRICS, Metric

    sys.path.insert(0, str(plugin_site))
    importlib.invalidate_caches()
    problems_before = len(metric_plugins.LOAD_PROBLEMS)
    added = metric_plugins.load_plugins(metric_type=Metric, taken=set(METRICS))
    METRICS.update({m.name: m for m in added})
    yield {m.name: m for m in added}, metric_plugins.LOAD_PROBLEMS[problems_before:]
    for m in added:
        METRICS.pop(m.name, None)
    sys.path.remove(str(plugin_site))
    sys.modules.pop("podium_metric_example", None)


def test_the_loader_takes_the_plugin_metrics_and_names_the_bad_entry_point(plugins_loaded):
    added, problems = plugins_loaded
    assert set(added) == PLUGIN_METRICS
    assert added["example_error_rate"].source == "plugin podium-metric-example:error_rate"
    assert added["example_error_rate"].interval.startswith("95% percentile bootstrap")
    assert problems == [
        "metric plugin podium-metric-example:not_a_metric was not loaded: the entry point must name a "
        "datasets.metrics.Metric, not dict"
    ]


def test_a_plugin_metric_appears_in_the_admin_like_a_built_in_one(plugins_loaded, client, admin_user):
    client.force_login(admin_user)
    page = client.get("/admin/competitions/competition/add/").content.decode()
    assert 'value="example_error_rate"' in page and "Error rate (example plugin)" in page


def test_plugin_metrics_are_scored_by_the_real_scorer_and_misbehaving_ones_fail_the_entry(
    plugins_loaded, plugin_site, make_platform, participant
):
    from podium.competitions.services import competition_join

    user, token = participant
    column = make_competition("iris-plugin-column", metric="accuracy", extra_metrics=["example_error_rate"])
    ranked = make_competition("iris-plugin-ranked", metric="example_error_rate")
    bad = {
        name: make_competition(f"iris-{name.replace('_', '-')}", metric=name)
        for name in ("example_raises", "example_nan", "example_slow")
    }
    for competition in [column, ranked, *bad.values()]:
        competition_join(competition=competition, user=user)

    platform = make_platform(
        broker="filesystem",
        extra_env={
            "PYTHONPATH": os.pathsep.join([str(Path.cwd() / "platform"), str(Path.cwd()), str(plugin_site)]),
            "PODIUM_METRIC_PLUGIN_TIMEOUT_S": "3",
        },
    )
    platform.start_web()
    scorer = platform.start_scorer()
    truth = iris_truth()
    ids = sorted(truth, key=int)
    half_wrong = {
        i: (truth[i] if n % 2 else ("setosa" if truth[i] != "setosa" else "virginica"))
        for n, i in enumerate(ids)
    }
    data = predictions_csv(half_wrong)

    with PodiumClient(platform.url, token, timeout=30) as client:
        listed = {m["name"]: m for m in client.metrics()}
        assert listed["example_error_rate"]["source"] == "plugin podium-metric-example:error_rate"
        assert listed["example_error_rate"]["higher_is_better"] is False

        failing = {name: client.submit_bytes(c.slug, csv=data)["id"] for name, c in bad.items()}
        failed = wait_final(client, list(failing.values()), timeout=90, platform=platform)
        pid = scorer.popen.pid
        # The same scorer, after three failures, scores the next entries.
        good = client.submit_bytes(column.slug, csv=data)["id"]
        good_ranked = client.submit_bytes(ranked.slug, csv=data)["id"]
        scored = wait_final(client, [good, good_ranked], timeout=90, platform=platform)
        column_board = client.leaderboard(column.slug)

    reasons = {name: failed[i]["error_message"] for name, i in failing.items()}
    assert all(failed[i]["status"] == "failed" for i in failing.values()), failed
    plugin = "podium-metric-example"
    assert reasons["example_raises"].startswith(
        f"The metric 'example_raises' (plugin {plugin}:raises) raised ZeroDivisionError: "
        "the example plugin divides by zero on purpose (at __init__.py:"
    ), reasons
    assert reasons["example_nan"] == f"The metric 'example_nan' (plugin {plugin}:returns_nan) returned NaN."
    assert reasons["example_slow"] == (
        f"The metric 'example_slow' (plugin {plugin}:too_slow) took longer than 3 s and was stopped."
    )
    assert scorer.alive and scorer.popen.pid == pid

    entry = scored[good]
    assert entry["status"] == "scored", scored
    error_rate = entry["extra_scores"]["example_error_rate"]
    assert error_rate["public"] == pytest.approx(1 - entry["public_score"], abs=1e-12)
    assert error_rate["private"] is None  # hidden while the competition is open
    assert column_board["extra_metrics"] == [
        {"name": "example_error_rate", "title": "Error rate (example plugin)", "higher_is_better": False}
    ]
    assert column_board["results"][0]["extra_scores"] == {"example_error_rate": error_rate["public"]}

    ranked_entry = scored[good_ranked]
    assert ranked_entry["status"] == "scored"
    assert ranked_entry["public_score"] == pytest.approx(error_rate["public"], abs=1e-12)
    low, high = ranked_entry["public_ci"]
    assert low <= ranked_entry["public_score"] <= high

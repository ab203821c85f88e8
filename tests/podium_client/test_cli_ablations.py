"""`podium ablate` and `podium ablation` against a real server (pytest-django's live_server):
the options and the quota, starting chosen or every variant, the table and its JSON, cancel,
and every refusal as one readable line with nothing stored."""

from __future__ import annotations

import json

import pytest

from podium.lab.models import Ablation, LabRun, RunStatus
from tests.factories.competitions import make_competition
from tests.web.ablations import scored_model_entry, train_runs, trained_ablation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def entry(alice, bob):
    from podium.competitions.services import competition_join

    competition = make_competition("iris-lab-cli", title="Iris in the lab", budget_epochs=8)
    for user in (alice, bob):
        competition_join(competition=competition, user=user)
    return scored_model_entry(competition, alice)


def test_ablate_lists_the_variants_and_the_quota_and_starts_nothing(cli, entry):
    for args in ((), ("--list",)):
        result = cli("ablate", entry.pk, *args)
        assert result.exit_code == 0, result.output
        assert "activation:sigmoid" in result.output and "optimizer:sgd" in result.output
        assert "ReLU → sigmoid" in result.output
        assert "0 of 1,200 model-epochs used, 1,200 left" in result.output
        assert "each run costs 8" in result.output
        assert f"podium ablate {entry.pk} --variant KEY" in result.output
    assert not Ablation.objects.exists()


def test_ablate_with_chosen_variants_then_the_table(cli, entry, alice):
    result = cli("ablate", entry.pk, "--variant", "activation:sigmoid", "-v", "optimizer:sgd")
    assert result.exit_code == 0, result.output
    ablation = Ablation.objects.get()
    assert (
        f"Started ablation #{ablation.pk} of entry #{entry.pk}: 2 variants and the original" in result.output
    )
    assert f"podium ablation {ablation.pk} --watch" in result.output
    assert sorted(LabRun.objects.values_list("key", flat=True)) == [
        "activation:sigmoid",
        "baseline",
        "optimizer:sgd",
    ]

    train_runs(ablation)
    table = cli("ablation", ablation.pk)
    assert table.exit_code == 0, table.output
    assert f"#{ablation.pk} of entry #{entry.pk}" in table.output and "done" in table.output
    assert "20% of the training rows held out" in table.output and "never the test set" in table.output
    sigmoid = LabRun.objects.get(key="activation:sigmoid")
    row = next(line for line in table.output.splitlines() if "activation:sigmoid" in line)
    assert f"{sigmoid.score:.4f} [{sigmoid.score_low:.4f}, {sigmoid.score_high:.4f}]" in row
    assert f"{sigmoid.diff:+.4f}" in row and "yes, worse" in row  # accuracy: higher is better
    original = next(line for line in table.output.splitlines() if "original" in line and "│" in line)
    assert "the original" in original

    # A terminal of 80 columns gets one block per variant: no number folded, what changed said.
    narrow = cli("ablation", ablation.pk, COLUMNS="80").output.splitlines()
    at = narrow.index("activation:sigmoid  done")
    assert (
        narrow[at + 1] == f"  score {sigmoid.score:.4f} [{sigmoid.score_low:.4f}, {sigmoid.score_high:.4f}]"
    )
    assert narrow[at + 2].startswith(f"  difference {sigmoid.diff:+.4f} [") and "yes, worse" in narrow[at + 2]
    assert "ReLU → sigmoid" in "\n".join(narrow[at + 3 : at + 6]) and max(map(len, narrow)) <= 80

    as_json = cli("ablation", ablation.pk, "--json")
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.output)
    assert [r["key"] for r in body["rows"]] == ["baseline", "activation:sigmoid", "optimizer:sgd"]
    assert body["curves"]["activation:sigmoid"]["epochs"] == [1, 2, 3]

    listed = cli("ablate", entry.pk, "--list")
    assert f"#{ablation.pk} (done)" in listed.output and "24 of 1,200 model-epochs used" in listed.output


def test_ablate_all_and_cancel(cli, entry):
    result = cli("ablate", entry.pk, "--all")
    assert result.exit_code == 0, result.output
    ablation = Ablation.objects.get()
    offered = cli("ablate", entry.pk, "--list").output
    n_runs = LabRun.objects.filter(ablation=ablation).count()
    assert n_runs > 5 and f"{n_runs - 1} variants and the original" in result.output
    assert all(key in offered for key in LabRun.objects.exclude(key="baseline").values_list("key", flat=True))

    cancelled = cli("ablation", ablation.pk, "--cancel")
    assert cancelled.exit_code == 0, cancelled.output
    assert f"ablation #{ablation.pk}: cancelled" in cancelled.output
    assert set(LabRun.objects.values_list("status", flat=True)) == {RunStatus.CANCELLED}


def test_refusals_are_one_readable_line_and_store_nothing(cli, entry, bob):
    unknown = cli("ablate", entry.pk, "--variant", "activation:nope")
    assert unknown.exit_code == 1
    assert "error: The ablation's variants have 1 problem(s); nothing was stored." in unknown.output
    assert "variants[0]: no ablation 'activation:nope' applies to this config" in unknown.output
    assert "Traceback" not in unknown.output and "/api/" not in unknown.output

    entry.competition.lab_daily_epochs = 20
    entry.competition.save(update_fields=["lab_daily_epochs"])
    over = cli("ablate", entry.pk, "-v", "activation:sigmoid", "-v", "optimizer:sgd")
    assert over.exit_code == 1
    assert "Daily ablation quota reached: 0 of 20 model-epochs used today" in over.output
    assert "this ablation needs 24. It resets at" in over.output

    entry.competition.budget_params = 100  # the entry's 131 parameters, and every variant's, are over it
    entry.competition.save(update_fields=["budget_params"])
    listed = cli("ablate", entry.pk, "--list")
    assert listed.exit_code == 0 and "not under the budget" in listed.output
    none_fit = cli("ablate", entry.pk, "--all")
    assert none_fit.exit_code == 1
    assert f"entry #{entry.pk}: no variant of its config fits the competition's budget" in none_fit.output

    both = cli("ablate", entry.pk, "--all", "--variant", "optimizer:sgd")
    assert both.exit_code == 2 and "not both" in both.output
    assert not Ablation.objects.exists()


def test_nobody_else_reaches_an_ablation_or_an_entry_to_ablate(cli, entry, alice, bob):
    from tests.factories.accounts import make_api_token

    ablation = trained_ablation(entry, alice, ["optimizer:sgd"], finish=False)
    bobs = make_api_token(bob)
    for args in (("ablation", ablation.pk), ("ablation", ablation.pk, "--cancel"), ("ablate", entry.pk)):
        refused = cli(*args, token=bobs)
        assert refused.exit_code == 1, refused.output
        assert "error: No such" in refused.output
    assert cli("ablation", ablation.pk, token=None).exit_code == 1  # not logged in
    assert not LabRun.objects.filter(status=RunStatus.CANCELLED).exists()

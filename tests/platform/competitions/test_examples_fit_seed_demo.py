"""Every example config is accepted by the competition `make run` seeds for its dataset:
the editor's templates and examples/ must not be refused by the demo's budgets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command

from podium.competitions.models import Competition
from podium.competitions.selectors import competition_phase
from podium.submissions.validation import config_validate

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        match = re.search(r"\(dataset: ([a-z0-9-]+)\)", path.read_text().splitlines()[0])
        assert match, f"{path.name}: the first line names no dataset"
        found.append((path.name, match.group(1)))
    return found


def test_every_example_fits_its_seeded_competition(capsys):
    call_command("seed_demo")
    capsys.readouterr()
    checked = []
    for name, dataset in _examples():
        competition = Competition.objects.filter(dataset__slug=dataset).first()
        if competition is None:
            continue  # a pre-training-only dataset has no competition of its own
        text = (EXAMPLES / name).read_text()
        config_validate(
            phase=competition_phase(competition=competition), text=text
        )  # raises SubmissionInvalid with the problems
        checked.append(name)
    assert {"breast_cancer_mlp.yaml", "diabetes_regression.yaml"} <= set(checked)
    assert len(checked) >= 10

"""The web tier's intake path validates a config, its parameter budget included, and derives
its ablation variants, without torch: the web image does not install it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CODE = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "podium.settings"
import django
django.setup()
import podium.submissions.api, podium.submissions.services, podium.urls, podium.wsgi
from datasets.catalog import build
from podium.competitions.models import Competition
from podium.submissions.validation import config_budget
from workers.spec import parse_config, validate_for_dataset

config = parse_config(open("examples/digits_cnn.yaml", encoding="utf-8").read())
manifest = build("digits").manifest
roomy = config_budget(Competition(budget_epochs=100, budget_params=10**7, budget_seconds=600))
assert validate_for_dataset(config, manifest, budget=roomy) == []
tight = config_budget(Competition(budget_epochs=100, budget_params=1000, budget_seconds=600))
(problem,) = validate_for_dataset(config, manifest, budget=tight)
assert problem.path == "model" and problem.message.endswith("more than the budget of 1,000"), problem
# An ablation's variants are derived on the web tier too (issue 16).
from workers.ablations import ablation_variants
variants = ablation_variants(config.model_dump(mode="json"), manifest=manifest)
assert "activation:sigmoid" in [v.key for v in variants]
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""


def test_intake_validates_a_config_its_parameter_budget_and_ablations_without_torch():
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'platform'}"}
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

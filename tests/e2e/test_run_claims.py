"""`manage.py run_claims` end to end, with real processes (gunicorn for the workers' callbacks,
the Django-free trainer, a Redis broker): a small study's arms × seeds go to the trainer as lab
runs on the test rows, the command waits for them with progress lines, runs the classical
baseline itself, and stores the claim's result that its page then shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MLP = {
    "version": 1,
    "seed": 0,
    "model": {
        "init": "xavier_normal",
        "layers": [
            {"linear": {"units": 16}},
            {"activation": "sigmoid"},
            {"linear": {"units": 16}},
            {"activation": "sigmoid"},
            {"linear": {"units": "auto"}},
        ],
    },
    "train": {"epochs": 2, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.01}},
}
STUDY = {
    "slug": "tiny-activations",
    "title": "A small study",
    "quotes": [{"zh": "梯度消失問題。", "en": "The vanishing-gradient problem."}],
    "datasets": {"train": "iris"},
    "seeds": 3,
    "plots": ["gradients", "loss"],
    "arms": [
        {"key": "sigmoid", "label": "sigmoid", "technique": "activation", "config": MLP},
        {"key": "relu", "label": "ReLU", "technique": "activation", "config": MLP, "activation": "relu"},
        {
            "key": "logreg",
            "label": "logistic regression",
            "technique": "classical",
            "classical": "logistic_regression",
        },
    ],
    "checks": [
        {"kind": "beats", "arm": "relu", "other": "sigmoid"},
        {"kind": "gradients_flow", "arm": "relu", "value": 0.01},
    ],
}


@pytest.fixture
def studies(tmp_path) -> Path:
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(yaml.safe_dump(STUDY, allow_unicode=True), encoding="utf-8")
    return folder


def test_run_claims_trains_the_study_on_the_real_trainer_and_stores_its_result(
    private_redis, make_platform, studies
):
    from podium.lab.claims_models import ClaimResult
    from podium.lab.models import LabRun
    from tests.factories.accounts import make_user

    make_user("root", is_staff=True, is_superuser=True)
    platform = make_platform(broker="redis", redis=private_redis)
    platform.start_web()
    platform.start_trainer()
    # As an operator runs it: its own process, on the platform's database and broker.
    command = [
        sys.executable,
        "manage.py",
        "run_claims",
        "--studies",
        str(studies),
        "--poll",
        "0.5",
        "--timeout",
        "300",
    ]
    done = subprocess.run(command, cwd=ROOT, env=platform.env, capture_output=True, text=True, timeout=420)
    said = done.stdout
    assert done.returncode == 0, done.stderr[-3000:] + platform.logs()

    assert "tiny-activations: 6 runs sent (2 arms × 3 seeds) on iris, accuracy on the test rows" in said
    assert re.search(r"tiny-activations: 6 done · \d+ s", said), said + platform.logs()
    assert "logreg (scikit-learn, here): " in said

    runs = LabRun.objects.filter(study_key__startswith="claims:tiny-activations:")
    assert {(r.key, r.seed, r.evaluate, r.status) for r in runs} == {
        (k, s, "test", "done") for k in ("sigmoid", "relu") for s in range(3)
    }
    assert {r.config["seed"] for r in runs} == {0, 1, 2}

    result = ClaimResult.objects.get(slug="tiny-activations")
    arms = {a["key"]: a for a in result.arms}
    assert list(arms) == ["sigmoid", "relu", "logreg"]
    for key in ("sigmoid", "relu"):
        arm = arms[key]
        assert arm["n"] == 3 and set(arm["scores"]) == {"0", "1", "2"}
        assert arm["low"] <= arm["mean"] <= arm["high"]
        assert arm["params"] == 4 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3
        assert arm["curves"]["epochs"] == [1, 2] and len(arm["curves"]["grad_norms"]) == 3
        assert arm["gradient_ratio"] > 0
    assert arms["logreg"]["n"] == 3 and arms["logreg"]["kind"] == "classical"
    assert len(result.checks) == 2 and result.reproduces in (True, False)
    assert re.fullmatch(r"[0-9a-f]{40}", result.commit)
    assert "trainer: cpu" in result.hardware and "CPUs" in result.hardware
    assert result.datasets == [{"slug": "iris", "version": 1}]
    assert result.command == "python manage.py run_claims --claim tiny-activations --seeds 3"

"""Lab objects as the platform stores them: a claim's result through `claim_result_store`,
from run outcomes shaped like the ones `manage.py run_claims` reads back from the workers."""

from __future__ import annotations

from datetime import UTC, datetime

from podium.lab.claim_services import claim_result_store
from podium.lab.claim_verdicts import RunOutcome
from podium.lab.claims import claim_get


def _epochs(arm_index: int, n_layers: int, epochs: int = 3) -> list[dict]:
    """Per-epoch reports as the trainer sends them: the first arm's gradient shrinking ~4×
    per layer towards the input (a vanishing gradient), the others' flat."""
    shrink = 0.25 if arm_index == 0 else 1.0
    return [
        {
            "epoch": e,
            "train_loss": 2.3 / (e + arm_index),
            "val_loss": 2.4 / (e + arm_index),
            "val_metric": {"name": "accuracy", "value": min(1.0, 0.1 + 0.3 * e * arm_index)},
            "grad_norms": {
                f"layers.{2 * i}.linear": 0.6 * shrink ** (n_layers - 1 - i) for i in range(n_layers)
            },
        }
        for e in range(1, epochs + 1)
    ]


def make_claim_result(
    slug: str = "vanishing-gradients", *, scores: dict[str, list[float]] | None = None, failed=()
):
    """The claim's stored result: each arm's given per-seed scores (default: the first arm at
    chance, the others near 0.95), `failed` arms with every seed failed."""
    claim = claim_get(slug)
    scores = scores or {
        arm.key: [0.10, 0.11, 0.09] if i == 0 else [0.95 + i / 100, 0.96 + i / 100, 0.94 + i / 100]
        for i, arm in enumerate(claim.arms)
    }
    outcomes = []
    for i, arm in enumerate(claim.arms):
        for seed in range(claim.seeds):
            if arm.key in failed:
                outcomes.append(RunOutcome(arm=arm.key, seed=seed, score=None, error="The run diverged"))
                continue
            outcomes.append(
                RunOutcome(
                    arm=arm.key,
                    seed=seed,
                    score=scores[arm.key][seed],
                    params=42_250 + 1_280 * i if arm.is_model else None,
                    multiply_adds=42_250 + 1_280 * i if arm.is_model else None,
                    seconds=6.0 + i,
                    epochs=_epochs(i, 10) if arm.is_model else [],
                )
            )
    return claim_result_store(
        claim=claim,
        outcomes=outcomes,
        metric="accuracy",
        higher_is_better=True,
        datasets=[{"slug": s, "version": 2} for s in claim.datasets],
        seeds=claim.seeds,
        measured_at=datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
        commit="0123456789abcdef0123456789abcdef01234567",
        hardware="cpu (1 thread, torch 2.5) on a 2-core KVM dev box",
        command=f"python manage.py run_claims --claim {slug}",
        seconds=95.0,
    )

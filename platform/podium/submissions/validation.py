"""Intake validation: prediction files through datasets.predictions, configs through workers.spec.

The rules live in those packages, where the CLI and the worker use them too; here their
problems become the intake's refusal, with a detail that counts them.
"""

from __future__ import annotations

from common.problems import Problem
from common.protocol import Budget
from podium.competitions.models import Competition
from podium.submissions.errors import SubmissionInvalid


def predictions_validate(*, competition: Competition, source) -> None:
    """Stream-validate a predictions CSV (a binary file object) against the answer key's ids."""
    from datasets.predictions import PredictionError
    from podium.submissions.scoring import answer_key_cached, parse

    answer_key = answer_key_cached(competition)
    source.seek(0)
    try:
        parse(source=source, answer_key=answer_key, competition=competition)
    except PredictionError as exc:
        problems = list(exc.problems) or [Problem(message=str(exc))]
        raise SubmissionInvalid(
            f"The predictions file has {_count(exc.total, problems)} problem(s); nothing was stored.",
            problems,
        ) from None


def _count(total: int, problems: list[Problem]) -> str:
    if total > len(problems):
        return f"{total} (the first {len(problems)} listed)"
    return str(len(problems))


def config_validate(*, competition: Competition, text: str) -> dict:
    """Schema, then dataset and budget checks (the parameter count included, in pure Python:
    no torch); returns the normalised config as JSON data."""
    return config_check(competition=competition, text=text)[0]


def config_check(*, competition: Competition, text: str) -> tuple[dict, list[dict]]:
    """`config_validate`, and the config's warnings (`workers.spec.config_warnings`: accepted,
    but probably not what the participant wants) as `{path, message}` dicts."""
    from workers.spec import ConfigError, config_warnings, parse_config, validate_for_dataset

    try:
        config = parse_config(text)
    except ConfigError as exc:
        problems = list(exc.problems) or [Problem(message=str(exc))]
        raise SubmissionInvalid(
            f"The model config has {len(problems)} problem(s); nothing was stored.", problems
        ) from None

    manifest = competition.dataset.manifest
    allowed = {d.slug: d.manifest for d in competition.pretrain_datasets.all()}
    problems = validate_for_dataset(
        config, manifest, budget=config_budget(competition), allowed_pretrain=allowed
    )
    if problems:
        raise SubmissionInvalid(
            f"The model config does not fit this competition: {len(problems)} problem(s); nothing was stored.",
            problems,
        )
    return config.model_dump(mode="json"), [p.as_dict() for p in config_warnings(config)]


def config_budget(competition: Competition) -> Budget:
    return Budget(
        epochs=competition.budget_epochs,
        params=competition.budget_params,
        seconds=competition.budget_seconds,
    )

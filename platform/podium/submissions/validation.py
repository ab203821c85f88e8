"""Intake validation: prediction files through datasets.predictions, configs through workers.spec.

This module only adapts their problem lists to the API's shape; the rules
themselves live in those packages, where the CLI and the worker use them too.
"""

from __future__ import annotations

from podium.competitions.models import Competition
from podium.submissions.errors import Problem, SubmissionInvalid


def _problem(raw) -> Problem:
    if isinstance(raw, Problem):
        return raw
    if hasattr(raw, "as_dict"):
        raw = raw.as_dict()
    if isinstance(raw, dict):
        get = raw.get
    else:

        def get(key, default=None):
            return getattr(raw, key, default)

    message = get("message") or str(raw)
    row, column, path = get("row"), get("column"), get("path")
    if get("id") not in (None, ""):
        message = f"id {get('id')!r}: {message}"
    return Problem(
        message=str(message),
        row=int(row) if isinstance(row, int) else None,
        column=str(column) if column not in (None, "") else None,
        path=str(path) if path not in (None, "") else None,
    )


def predictions_validate(*, competition: Competition, source) -> None:
    """Stream-validate a predictions CSV (a binary file object) against the answer key's ids."""
    from datasets.predictions import PredictionError
    from podium.submissions.scoring import answer_key_cached, parse

    answer_key = answer_key_cached(competition)
    source.seek(0)
    try:
        parse(source=source, answer_key=answer_key, competition=competition)
    except PredictionError as exc:
        problems = [_problem(p) for p in getattr(exc, "problems", [])] or [Problem(message=str(exc))]
        raise SubmissionInvalid(
            f"The predictions file has {_count(exc, problems)} problem(s); nothing was stored.", problems
        ) from None


def _count(exc, problems) -> str:
    total = getattr(exc, "total", None)
    if isinstance(total, int) and total > len(problems):
        return f"{total} (the first {len(problems)} listed)"
    return str(len(problems))


def config_validate(*, competition: Competition, text: str) -> dict:
    """Schema, then dataset and budget checks; returns the normalised config as JSON data.

    The parameter budget is checked inside validate_for_dataset, which counts on torch's
    meta device (workers.build, imported lazily there, so the web tier starts without torch)."""
    from workers.spec import ConfigError, parse_config, validate_for_dataset

    try:
        config = parse_config(text)
    except ConfigError as exc:
        problems = [_problem(p) for p in getattr(exc, "problems", [])] or [Problem(message=str(exc))]
        raise SubmissionInvalid(
            f"The model config has {len(problems)} problem(s); nothing was stored.", problems
        ) from None

    manifest = competition.dataset.manifest
    allowed = {d.slug: d.manifest for d in competition.pretrain_datasets.all()}
    problems = [
        _problem(p)
        for p in validate_for_dataset(
            config, manifest, budget=config_budget(competition), allowed_pretrain=allowed
        )
    ]
    if problems:
        raise SubmissionInvalid(
            f"The model config does not fit this competition: {len(problems)} problem(s); nothing was stored.",
            problems,
        )
    return config.model_dump(mode="json")


def config_budget(competition: Competition) -> dict:
    return {
        "epochs": competition.budget_epochs,
        "params": competition.budget_params,
        "seconds": competition.budget_seconds,
    }

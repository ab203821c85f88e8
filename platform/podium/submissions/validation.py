"""Intake validation: prediction files through datasets.predictions, configs through workers.spec.

The rules live in those packages, where the CLI and the worker use them too; here their
problems become the intake's refusal, with a detail that counts them. Every check is of a
phase (its own dataset, budget and accepted kinds, else its competition's).
"""

from __future__ import annotations

from common.problems import Problem
from common.protocol import Budget
from podium.competitions.models import Competition
from podium.competitions.phases import PhaseView
from podium.submissions.errors import SubmissionInvalid

# The intake says nothing was stored; a dry run (validate) has nothing to store.
_NOT_STORED = {True: "; nothing was stored", False: ""}


def predictions_validate(*, phase: PhaseView, source, storing: bool = True) -> None:
    """Stream-validate a predictions CSV (a binary file object) against the phase's answer key's ids."""
    from datasets.predictions import PredictionError
    from podium.submissions.scoring import answer_key_cached, parse

    answer_key = answer_key_cached(phase)
    source.seek(0)
    try:
        parse(source=source, answer_key=answer_key, phase=phase)
    except PredictionError as exc:
        problems = list(exc.problems) or [Problem(message=str(exc))]
        raise SubmissionInvalid(
            f"The predictions file has {_count(exc.total, problems)} problem(s){_NOT_STORED[storing]}.",
            problems,
        ) from None


def _count(total: int, problems: list[Problem]) -> str:
    if total > len(problems):
        return f"{total} (the first {len(problems)} listed)"
    return str(len(problems))


def kind_check(*, phase: PhaseView, kind: str) -> None:
    """The phase takes this kind of entry (prediction files, model configs or both)."""
    if kind == "predictions" and not phase.accepts_predictions:
        raise SubmissionInvalid("This competition does not accept prediction files; submit a model config.")
    if kind == "config" and not phase.accepts_configs:
        raise SubmissionInvalid("This competition does not accept model configs; submit a predictions file.")


def config_validate(*, phase: PhaseView, text: str, storing: bool = True) -> dict:
    """Schema, then dataset and budget checks (the parameter count included, in pure Python:
    no torch); returns the normalised config as JSON data."""
    return config_check(phase=phase, text=text, storing=storing)[0]


def config_check(*, phase: PhaseView, text: str, storing: bool = True) -> tuple[dict, list[dict]]:
    """`config_validate`, and the config's warnings (`workers.spec.config_warnings`: accepted,
    but probably not what the participant wants) as `{path, message}` dicts."""
    from workers.spec import ConfigError, config_warnings, parse_config, validate_for_dataset

    try:
        config = parse_config(text)
    except ConfigError as exc:
        problems = list(exc.problems) or [Problem(message=str(exc))]
        raise SubmissionInvalid(
            f"The model config has {len(problems)} problem(s){_NOT_STORED[storing]}.", problems
        ) from None

    manifest = phase.dataset.manifest
    allowed = {d.slug: d.manifest for d in phase.competition.pretrain_datasets.all()}
    problems = validate_for_dataset(config, manifest, budget=config_budget(phase), allowed_pretrain=allowed)
    if problems:
        raise SubmissionInvalid(
            f"The model config does not fit this competition: {len(problems)} problem(s)"
            f"{_NOT_STORED[storing]}.",
            problems,
        )
    return config.model_dump(mode="json"), [p.as_dict() for p in config_warnings(config)]


def config_budget(competition: Competition | PhaseView) -> Budget:
    """The budget of a phase (its own, or its competition's); a sweep's or an ensemble's
    variants share it, and `variants` caps how many there may be."""
    return Budget(
        epochs=competition.budget_epochs,
        params=competition.budget_params,
        seconds=competition.budget_seconds,
        variants=competition.max_variants,
    )


def submission_dry_run(*, phase: PhaseView, predictions_file=None, config_text: str | None = None) -> dict:
    """Validate an entry exactly as the intake would, store nothing, and say what it would be:
    `{kind, valid}` for a file, `{kind, valid, parameters, epochs, variants, budget, warnings}` for a
    config (`epochs`: all its variants' together)."""
    if (predictions_file is None) == (config_text is None):
        raise SubmissionInvalid(
            "Send exactly one of 'file' (a predictions CSV) or 'config' (a model config)."
        )
    budget = config_budget(phase)
    kind_check(phase=phase, kind="predictions" if predictions_file is not None else "config")
    if predictions_file is not None:
        predictions_validate(phase=phase, source=predictions_file, storing=False)
        return {"kind": "predictions", "valid": True}
    config, warnings = config_check(phase=phase, text=config_text, storing=False)
    from workers.spec import count_parameters, load_config, n_outputs_for, variant_count, variant_epochs

    manifest = phase.dataset.manifest
    model = load_config(config)
    parameters = count_parameters(
        model,
        manifest["input_shape"],
        n_outputs_for(manifest),
        with_adapters=bool(model.finetune),
        inputs=manifest.get("inputs"),
    )
    return {
        "kind": "config",
        "valid": True,
        "parameters": parameters,
        "epochs": sum(variant_epochs(model)),
        "variants": variant_count(model),
        "budget": budget.as_dict(),
        "warnings": warnings,
    }

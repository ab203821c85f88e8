"""Which metrics a competition may use: its primary metric and the others shown as columns,
checked against its dataset (task type, classes, file format) and its answer key (a metric
undefined on a split, targets outside a metric's domain). Every problem is named by field;
the services raise them as one ValidationError, so nothing is stored."""

from __future__ import annotations

import numpy as np

from datasets.formats import prediction_kind
from datasets.metrics import METRICS, Metric, metric_problems

FORMAT_WORDS = {"label": "class labels", "proba": "class probabilities", "value": "numbers"}


def _n_classes(manifest: dict) -> int | None:
    classes = manifest.get("classes")
    return len(classes) if classes else None


def _unknown(name) -> str:
    return f"unknown metric {name!r}; choose one of {', '.join(METRICS)}"


def metrics_problems(*, dataset, metric: str, extra_metrics) -> dict[str, str]:
    """{field: message} for the primary `metric` and the `extra_metrics` on `dataset`."""
    errors: dict[str, str] = {}
    manifest = dataset.manifest or {}
    n_classes = _n_classes(manifest)
    primary = METRICS.get(metric)
    if primary is None:
        errors["metric"] = _unknown(metric)
    else:
        problem = metric_problems(primary, n_classes=n_classes, task_type=dataset.task_type)
        if problem is None and primary.needs_proba and not n_classes:
            problem = f"metric {metric!r} needs the dataset's class list"
        if problem:
            errors["metric"] = problem
    extra_problems = _extra_problems(dataset, primary, extra_metrics, n_classes)
    if extra_problems:
        errors["extra_metrics"] = "; ".join(extra_problems)
    return errors


def _extra_problems(dataset, primary: Metric | None, extra_metrics, n_classes) -> list[str]:
    if not isinstance(extra_metrics, list | tuple) or not all(isinstance(n, str) for n in extra_metrics):
        return ["a list of metric names"]
    problems = []
    seen = set()
    for name in extra_metrics:
        m = METRICS.get(name)
        if m is None:
            problems.append(_unknown(name))
            continue
        if name in seen or (primary is not None and name == primary.name):
            problems.append(f"metric {name!r} is listed twice (the primary metric is shown already)")
            continue
        seen.add(name)
        problem = metric_problems(m, n_classes=n_classes, task_type=dataset.task_type)
        if problem is None and primary is not None and primary.task_type == m.task_type:
            kind = prediction_kind(primary)
            if kind not in m.prediction_kinds:
                problem = (
                    f"metric {name!r} needs {FORMAT_WORDS[m.prediction_kinds[0]]}, but entries hold "
                    f"{FORMAT_WORDS[kind]} (the format of the primary metric {primary.name!r}); "
                    f"make {name!r} the primary metric or choose another"
                )
        if problem:
            problems.append(problem)
    return problems


def answer_key_problems(*, key, metric: str, extra_metrics) -> dict[str, str]:
    """{field: message} for metrics the answer key leaves undefined, checked on a perfect
    entry for each split (a split with one class for ROC AUC, constant targets for a
    correlation), and for targets outside a metric's domain. Plugins are not run here:
    their code runs only in the scorer's isolated child."""
    errors: dict[str, str] = {}
    for field, names in (("metric", [metric]), ("extra_metrics", list(extra_metrics))):
        problems = [p for name in names if (p := _key_problem(key, METRICS[name])) is not None]
        if problems:
            errors[field] = "; ".join(problems)
    return errors


def _key_problem(key, m: Metric) -> str | None:
    if m.is_plugin:
        return None
    targets = key.targets
    if m.values_above is not None and targets.size and not (targets > m.values_above).all():
        return (
            f"metric {m.name!r} needs targets greater than {m.values_above:g}; "
            f"the test set has {float(targets.min()):g}"
        )
    for split, idx in (("public", key.public_idx), ("private", key.private_idx)):
        if idx.size == 0:
            continue
        y = targets[idx]
        perfect = np.eye(key.n_classes)[y] if m.needs_proba else y
        with np.errstate(all="ignore"):
            value = m(y, perfect, key.n_classes)
        if not np.isfinite(value):
            why = (
                "it holds one class only"
                if key.task_type == "classification" and np.unique(y).size < 2
                else "its targets are all equal"
                if np.unique(y).size < 2
                else "no score can be computed"
            )
            return f"metric {m.name!r} is undefined on the {split} split of the answer key: {why}"
    return None


def metric_out(m: Metric) -> dict:
    """A metric as the API lists it (`GET /api/metrics/`) and the rules page describes it."""
    return {
        "name": m.name,
        "title": m.title,
        "description": m.description,
        "task_type": m.task_type,
        "higher_is_better": m.higher_is_better,
        "prediction_formats": list(m.prediction_kinds),
        "min_classes": m.min_classes if m.task_type == "classification" else None,
        "max_classes": m.max_classes if m.task_type == "classification" else None,
        "values_above": m.values_above,
        "interval": m.interval,
        "source": m.source,
    }


def metric_catalogue() -> list[dict]:
    """Every metric this server scores, built-in and plugins, in registry order."""
    return [metric_out(m) for m in METRICS.values()]


def scoring_rules(competition) -> dict:
    """What a competition's rules say about scoring: the ranking metric, the other metrics
    shown, the file format, and the probability rule when entries hold probabilities."""
    from datasets.predictions import PROBABILITY_RULE

    primary = METRICS.get(competition.metric)
    kind = prediction_kind(primary) if primary is not None else None
    return {
        "primary": metric_out(primary) if primary is not None else {"name": competition.metric},
        "others": [metric_out(METRICS[name]) for name in competition.extra_metrics or () if name in METRICS],
        "prediction_format": kind,
        "probability_rule": PROBABILITY_RULE if kind == "proba" else None,
    }

"""A lab run's scores: its predictions against its evaluation rows, the bootstrap interval, and
the paired difference between two runs on the same rows (datasets.holdout, datasets.scoring).

The held-out rows are recomputed here from the dataset's training file and the run's
fraction and seed, exactly as the worker drew them: nothing about them is stored or sent.
Parsed evaluation keys are kept per process by the files' hashes (an ablation's runs all
finish against the same key).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from podium.errors import ApplicationError

_KEYS: OrderedDict[tuple, object] = OrderedDict()
_KEYS_KEPT = 8
_KEYS_LOCK = threading.Lock()

BOOTSTRAP_RESAMPLES = 1000


class EvaluationUnavailable(ApplicationError):
    """The run's evaluation rows cannot be rebuilt (a dataset without the file it needs)."""


@dataclass(frozen=True)
class RunScore:
    score: float | None
    low: float | None
    high: float | None


def _file_bytes(dataset, name: str) -> tuple[bytes, str]:
    row = dataset.files.filter(name=name).first()
    if row is None:
        raise EvaluationUnavailable(
            f"Dataset {dataset.slug!r} v{dataset.version} has no {name} to evaluate on."
        )
    with row.file.open("rb") as fh:
        return fh.read(), row.sha256


def evaluation_key(run):
    """The answer key of the run's evaluation rows: the held-out training rows, or every test row."""
    from datasets.holdout import every_test_row_key, holdout_answer_key

    dataset = run.dataset
    name = "train.csv" if run.evaluate == "holdout" else "test_labels.csv"
    row = dataset.files.filter(name=name).values_list("sha256", flat=True).first()
    cache_key = (
        dataset.pk,
        name,
        row,
        run.evaluate,
        run.holdout_fraction,
        run.seed if run.evaluate == "holdout" else None,
    )
    with _KEYS_LOCK:
        if cache_key in _KEYS:
            _KEYS.move_to_end(cache_key)
            return _KEYS[cache_key]
    data, _ = _file_bytes(dataset, name)
    try:
        if run.evaluate == "holdout":
            key = holdout_answer_key(data, dataset.manifest, fraction=run.holdout_fraction, seed=run.seed)
        else:
            key = every_test_row_key(data, dataset.manifest)
    except ValueError as exc:
        raise EvaluationUnavailable(
            f"The evaluation rows of lab run #{run.pk} cannot be built: {exc}"
        ) from None
    with _KEYS_LOCK:
        _KEYS[cache_key] = key
        while len(_KEYS) > _KEYS_KEPT:
            _KEYS.popitem(last=False)
    return key


def parse_run_predictions(run, source):
    """The run's predictions aligned to its evaluation rows; `datasets.predictions.PredictionError`
    when they are not a valid file for them."""
    from datasets.predictions import parse_predictions

    if hasattr(source, "seek"):
        source.seek(0)
    return parse_predictions(
        source,
        answer_key=evaluation_key(run),
        manifest=run.dataset.manifest,
        metric=run.metric,
        max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES,
    )


def _finite(value: float) -> float | None:
    import math

    return value if math.isfinite(value) else None


def run_score(run, predictions) -> RunScore:
    """The score on every evaluation row and its 95% percentile bootstrap interval (seeded by the run)."""
    from datasets.scoring import bootstrap_ci, score

    key = evaluation_key(run)
    value, _ = score(key, predictions, run.metric)
    low, high = bootstrap_ci(key, predictions, run.metric, n=BOOTSTRAP_RESAMPLES, seed=run.seed)
    return RunScore(_finite(value), _finite(low), _finite(high))


def stored_predictions(run):
    """A done run's stored predictions, parsed again (a paired difference needs both runs')."""
    with run.predictions.open("rb") as fh:
        return parse_run_predictions(run, fh.read())


def paired_difference(baseline, other, *, baseline_predictions=None, other_predictions=None):
    """(other minus baseline, low, high): the paired 95% bootstrap interval of two done runs
    evaluated on the same rows (same dataset, mode, fraction and seed), the draws seeded by the
    baseline. ValueError when the runs were not evaluated on the same rows."""
    from datasets.scoring import paired_difference_ci

    same_rows = (
        baseline.dataset_id == other.dataset_id
        and baseline.evaluate == other.evaluate
        and baseline.holdout_fraction == other.holdout_fraction
        and (baseline.evaluate == "test" or baseline.seed == other.seed)
        and baseline.metric == other.metric
    )
    if not same_rows:
        raise ValueError(f"lab runs #{baseline.pk} and #{other.pk} were not evaluated on the same rows")
    key = evaluation_key(baseline)
    base = baseline_predictions if baseline_predictions is not None else stored_predictions(baseline)
    mine = other_predictions if other_predictions is not None else stored_predictions(other)
    diff, low, high = paired_difference_ci(
        key, base, mine, baseline.metric, n=BOOTSTRAP_RESAMPLES, seed=baseline.seed
    )
    return _finite(diff), _finite(low), _finite(high)

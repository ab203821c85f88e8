"""The scorer's side of datasets.scoring: a per-process answer-key cache and one entry's scores.

Loading an answer key (a million ids and labels) costs far more than scoring a
file against it, so each process keeps the keys it has seen, keyed by the
competition and the key's content hash: a regenerated key is never served stale.

One pass scores the primary metric (both splits and the public interval) and the
competition's other metrics (both splits) from the same parsed file. A plugin metric
runs in a forked child under PODIUM_METRIC_PLUGIN_TIMEOUT_S (datasets.metric_plugins):
if it raises, returns NaN or runs past the limit, the entry fails with that reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from podium.competitions.models import Competition


class ScoringFailed(Exception):
    """A reason the entry cannot be scored, worded for the participant."""


@dataclass(frozen=True)
class Scores:
    public: float | None
    private: float | None
    public_ci: tuple[float | None, float | None]
    # The other metrics: {name: {"public": float|None, "private": float|None}}.
    extra: dict = field(default_factory=dict)


def answer_key_cached(competition: Competition):
    """The parsed key, cached per process by (competition id, key sha256) in the selector."""
    from podium.competitions.selectors import answer_key_for

    return answer_key_for(competition)


def parse(*, source, answer_key, competition: Competition):
    from django.conf import settings

    from datasets.predictions import parse_predictions

    return parse_predictions(
        source,
        answer_key=answer_key,
        manifest=competition.dataset.manifest,
        metric=competition.metric,
        max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES,
        other_metrics=tuple(competition.extra_metrics or ()),
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def scores_compute(*, submission) -> Scores:
    from datasets.predictions import PredictionError
    from datasets.scoring import bootstrap_ci, score

    competition = submission.competition
    if not submission.predictions:
        raise ScoringFailed("No predictions were stored for this entry.")
    answer_key = answer_key_cached(competition)
    try:
        with submission.predictions.open("rb") as source:
            predictions = parse(source=source, answer_key=answer_key, competition=competition)
    except PredictionError as exc:
        raise ScoringFailed(f"The predictions file could not be scored: {exc}") from None
    except FileNotFoundError:
        raise ScoringFailed("The stored predictions file is missing.") from None

    def primary() -> list[float]:
        public, private = score(answer_key, predictions, competition.metric)
        # Seeded by the entry: the interval of one entry is the same on every redelivery.
        low, high = bootstrap_ci(answer_key, predictions, competition.metric, seed=submission.pk)
        return [public, private, low, high]

    public, private, low, high = _run(competition.metric, primary)
    extra = {}
    for name in competition.extra_metrics or ():
        values = _run(name, lambda name=name: list(score(answer_key, predictions, name)))
        extra[name] = {"public": _finite_or_none(values[0]), "private": _finite_or_none(values[1])}
    return Scores(
        public=_finite_or_none(float(public)),
        private=_finite_or_none(float(private)),
        public_ci=(_finite_or_none(low), _finite_or_none(high)),
        extra=extra,
    )


def _run(name: str, work) -> list[float]:
    """A built-in metric here; a plugin in a child process under the time limit."""
    from django.conf import settings

    from datasets.metric_plugins import MetricFailed, run_isolated
    from datasets.metrics import get_metric

    metric = get_metric(name)
    if not metric.is_plugin:
        return [float(v) for v in work()]
    try:
        return run_isolated(
            work,
            timeout_s=settings.PODIUM_METRIC_PLUGIN_TIMEOUT_S,
            what=f"The metric {name!r} ({metric.source})",
        )
    except MetricFailed as exc:
        raise ScoringFailed(str(exc)) from None

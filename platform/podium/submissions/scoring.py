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

from podium.competitions.phases import PhaseView


class ScoringFailed(Exception):
    """A reason the entry cannot be scored, worded for the participant."""


@dataclass(frozen=True)
class Scores:
    public: float | None
    private: float | None
    public_ci: tuple[float | None, float | None]
    # The other metrics: {name: {"public": float|None, "private": float|None}}.
    extra: dict = field(default_factory=dict)


def interval_seed(competition) -> int:
    """The seed of every bootstrap interval of the competition's entries: one for all of them
    (common random numbers, so two entries' intervals compare on equal terms; the same on every
    redelivery; a rescore draws the resamples once for all its entries, bootstrap_ci_many)."""
    return competition.split_seed


def answer_key_cached(phase: PhaseView):
    """The phase's parsed key (its own, or the competition's), cached per process by
    (holder, id, key sha256) in the selector."""
    from podium.competitions.selectors import answer_key_for

    return answer_key_for(phase.key_holder)


def parse(*, source, answer_key, phase: PhaseView):
    from django.conf import settings

    from datasets.predictions import parse_predictions

    return parse_predictions(
        source,
        answer_key=answer_key,
        manifest=phase.dataset.manifest,
        metric=phase.competition.metric,
        max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES,
        other_metrics=tuple(phase.competition.extra_metrics or ()),
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def scores_compute(*, submission) -> Scores:
    from datasets.predictions import PredictionError
    from datasets.scoring import bootstrap_ci, score
    from podium.competitions.selectors import submission_phase

    phase = submission_phase(submission)
    competition = phase.competition
    if not submission.predictions:
        raise ScoringFailed("No predictions were stored for this entry.")
    answer_key = answer_key_cached(phase)
    try:
        with submission.predictions.open("rb") as source:
            predictions = parse(source=source, answer_key=answer_key, phase=phase)
    except PredictionError as exc:
        raise ScoringFailed(f"The predictions file could not be scored: {exc}") from None
    except FileNotFoundError:
        raise ScoringFailed("The stored predictions file is missing.") from None

    def primary() -> list[float]:
        public, private = score(answer_key, predictions, competition.metric)
        low, high = bootstrap_ci(answer_key, predictions, competition.metric, seed=interval_seed(competition))
        return [public, private, low, high]

    public, private, low, high = _run(competition.metric, primary)
    extra = _extra_scores(competition, answer_key, predictions)
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


def _extra_scores(competition, answer_key, predictions) -> dict:
    from datasets.scoring import score

    extra = {}
    for name in competition.extra_metrics or ():
        values = _run(name, lambda name=name: list(score(answer_key, predictions, name)))
        extra[name] = {"public": _finite_or_none(values[0]), "private": _finite_or_none(values[1])}
    return extra


def scores_compute_many(*, submissions: list, competition) -> list[Scores | ScoringFailed]:
    """scores_compute for many entries of one competition, each result equal to what
    scores_compute gives that entry: each phase's answer key is read once, and the primary
    metric's intervals are drawn once for all of a phase's entries
    (datasets.scoring.bootstrap_ci_many). An entry that cannot be scored gets its
    ScoringFailed in its place. A plugin primary metric runs isolated, entry by entry, as the
    scorer runs it."""
    from datasets.metrics import get_metric
    from datasets.predictions import PredictionError
    from datasets.scoring import bootstrap_ci_many, score
    from podium.competitions.selectors import competition_phases

    results: list[Scores | ScoringFailed | None] = [None] * len(submissions)
    if get_metric(competition.metric).is_plugin:
        for i, submission in enumerate(submissions):
            try:
                results[i] = scores_compute(submission=submission)
            except ScoringFailed as exc:
                results[i] = exc
        return results
    views = {view.pk: view for view in competition_phases(competition)}
    by_phase: dict[int, list[int]] = {}
    for i, submission in enumerate(submissions):
        by_phase.setdefault(submission.phase_id, []).append(i)
    for phase_id, indices in by_phase.items():
        phase = views[phase_id]
        answer_key = answer_key_cached(phase)
        parsed, places, splits = [], [], []
        for i in indices:
            submission = submissions[i]
            if not submission.predictions:
                results[i] = ScoringFailed("No predictions were stored for this entry.")
                continue
            try:
                with submission.predictions.open("rb") as source:
                    predictions = parse(source=source, answer_key=answer_key, phase=phase)
            except PredictionError as exc:
                results[i] = ScoringFailed(f"The predictions file could not be scored: {exc}")
                continue
            except FileNotFoundError:
                results[i] = ScoringFailed("The stored predictions file is missing.")
                continue
            parsed.append(predictions)
            places.append(i)
            splits.append(score(answer_key, predictions, competition.metric))
        intervals = bootstrap_ci_many(answer_key, parsed, competition.metric, seed=interval_seed(competition))
        for i, predictions, (public, private), (low, high) in zip(
            places, parsed, splits, intervals, strict=True
        ):
            try:
                extra = _extra_scores(competition, answer_key, predictions)
            except ScoringFailed as exc:
                results[i] = exc
                continue
            results[i] = Scores(
                public=_finite_or_none(float(public)),
                private=_finite_or_none(float(private)),
                public_ci=(_finite_or_none(low), _finite_or_none(high)),
                extra=extra,
            )
    return results

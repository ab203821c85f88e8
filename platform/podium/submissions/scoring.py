"""The scorer's side of datasets.scoring: a per-process answer-key cache and one entry's scores.

Loading an answer key (a million ids and labels) costs far more than scoring a
file against it, so each process keeps the keys it has seen, keyed by the
competition and the key's content hash: a regenerated key is never served stale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from podium.competitions.models import Competition


class ScoringFailed(Exception):
    """A reason the entry cannot be scored, worded for the participant."""


@dataclass(frozen=True)
class Scores:
    public: float | None
    private: float | None
    public_ci: tuple[float | None, float | None]


def interval_seed(competition: Competition) -> int:
    """The seed of every bootstrap interval of the competition's entries."""
    return competition.split_seed


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
    public, private = score(answer_key, predictions, competition.metric)
    # One seed per competition: every entry's interval is drawn from the same resamples
    # (common random numbers, so two entries' intervals compare on equal terms), the same on
    # every redelivery, and a rescore draws them once for all its entries (bootstrap_ci_many).
    low, high = bootstrap_ci(answer_key, predictions, competition.metric, seed=interval_seed(competition))
    return Scores(
        public=_finite_or_none(float(public)),
        private=_finite_or_none(float(private)),
        public_ci=(_finite_or_none(low), _finite_or_none(high)),
    )


def scores_compute_many(*, submissions: list, competition: Competition) -> list[Scores | ScoringFailed]:
    """scores_compute for many entries of one competition, each result equal to what
    scores_compute gives that entry: the answer key is read once, and the intervals are
    drawn once for all of them (datasets.scoring.bootstrap_ci_many). An entry that cannot be
    scored gets its ScoringFailed in its place."""
    from datasets.predictions import PredictionError
    from datasets.scoring import bootstrap_ci_many, score

    answer_key = answer_key_cached(competition)
    results: list[Scores | ScoringFailed | None] = [None] * len(submissions)
    parsed, places, splits = [], [], []
    for i, submission in enumerate(submissions):
        if not submission.predictions:
            results[i] = ScoringFailed("No predictions were stored for this entry.")
            continue
        try:
            with submission.predictions.open("rb") as source:
                predictions = parse(source=source, answer_key=answer_key, competition=competition)
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
    for i, (public, private), (low, high) in zip(places, splits, intervals, strict=True):
        results[i] = Scores(
            public=_finite_or_none(float(public)),
            private=_finite_or_none(float(private)),
            public_ci=(_finite_or_none(low), _finite_or_none(high)),
        )
    return results

"""The scorer's side of datasets.scoring: a per-process answer-key cache and one entry's scores.

Loading an answer key (a million ids and labels) costs far more than scoring a
file against it, so each process keeps the keys it has seen, keyed by the
competition and the key's content hash: a regenerated key is never served stale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from podium.competitions.phases import PhaseView


class ScoringFailed(Exception):
    """A reason the entry cannot be scored, worded for the participant."""


@dataclass(frozen=True)
class Scores:
    public: float | None
    private: float | None
    public_ci: tuple[float | None, float | None]


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
    public, private = score(answer_key, predictions, competition.metric)
    # Seeded by the entry: the interval of one entry is the same on every redelivery.
    low, high = bootstrap_ci(answer_key, predictions, competition.metric, seed=submission.pk)
    return Scores(
        public=_finite_or_none(float(public)),
        private=_finite_or_none(float(private)),
        public_ci=(_finite_or_none(low), _finite_or_none(high)),
    )

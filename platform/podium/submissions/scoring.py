"""The scorer's side of datasets.scoring: a per-process answer-key cache and one entry's scores.

Loading an answer key (a million ids and labels) costs far more than scoring a
file against it, so each process keeps the keys it has seen, keyed by the
competition and the key's content hash: a regenerated key is never served stale.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from podium.competitions.models import Competition

_cache: dict[tuple[int, str], object] = {}
_lock = threading.Lock()
_CACHE_LIMIT = 16


class ScoringFailed(Exception):
    """A reason the entry cannot be scored, worded for the participant."""


@dataclass(frozen=True)
class Scores:
    public: float
    private: float
    public_ci: tuple[float | None, float | None]


def answer_key_cached(competition: Competition):
    from podium.competitions.services import answer_key_for, answer_key_sha256

    cache_key = (competition.pk, answer_key_sha256(competition))
    key = _cache.get(cache_key)
    if key is None:
        key = answer_key_for(competition)
        with _lock:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.pop(next(iter(_cache)))
            _cache[cache_key] = key
    return key


def parse(*, source, answer_key, competition: Competition):
    from datasets.scoring import parse_predictions

    return parse_predictions(source, answer_key, competition.metric)


def scores_compute(*, submission) -> Scores:
    from datasets.scoring import PredictionError, bootstrap_ci, score

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
    low, high = bootstrap_ci(answer_key, predictions, competition.metric, seed=submission.pk)
    return Scores(public=float(public), private=float(private), public_ci=(low, high))

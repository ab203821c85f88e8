"""Public and private scores of aligned predictions, and the bootstrap interval of the public one.

Each metric says how it is resampled (datasets.metrics: `Metric.resampling`); here are
only the splits, the draws and the percentiles, the same for every metric.
"""

from __future__ import annotations

import numpy as np

from datasets.answer_key import AnswerKey
from datasets.metrics import MeanOfRows, Metric, get_metric
from datasets.predictions import Predictions

_CHUNK_ELEMENTS = 1 << 22

# Above this many public rows the interval is bootstrapped on a seeded subsample of this
# size and its spread scaled to the whole split by sqrt(rows / size) (the m-out-of-n
# bootstrap of Bickel, Goetze & van Zwet, 1997). Every metric here is a smooth,
# root-n-consistent statistic, for which the rescaled spread estimates the full
# bootstrap's: at 10,000 rows its own error (~1 %) is below the Monte-Carlo error of
# 1,000 resamples, and an interval stops costing seconds per entry on large files
# (a 300,000-row public split took 2-9 s, 108 s for ROC AUC, for every entry scored).
BOOTSTRAP_MAX_ROWS = 10_000


def _check(key: AnswerKey, predictions: Predictions, metric) -> tuple[Metric, np.ndarray]:
    """The metric and the predictions as it reads them (a label metric reads a probability
    file's labels); ValueError for a format the metric cannot score."""
    m = metric if isinstance(metric, Metric) else get_metric(metric)
    if predictions.values.shape[0] != len(key):
        raise ValueError("the predictions are not aligned to this answer key")
    return m, m.input_of(predictions.values, predictions.kind)


def score(answer_key: AnswerKey, predictions: Predictions, metric) -> tuple[float, float]:
    """(public, private) scores; nan for an empty split."""
    m, values = _check(answer_key, predictions, metric)
    key = answer_key
    if isinstance(m.resampling, MeanOfRows):
        # A mean of row terms: one pass sums both splits.
        terms = m.resampling.term(key.targets, values)
        counts = np.bincount(key.public, minlength=2)
        sums = np.bincount(key.public, weights=terms, minlength=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = m.resampling.of_means(sums / counts)
        return float(means[1]), float(means[0])
    out = []
    for idx in (key.public_idx, key.private_idx):
        if idx.size == 0:
            out.append(float("nan"))
            continue
        out.append(m(key.targets[idx], values[idx], key.n_classes))
    return out[0], out[1]


def score_metrics(answer_key: AnswerKey, predictions: Predictions, metrics) -> dict[str, tuple[float, float]]:
    """(public, private) of each metric, from one parsed file (a competition's other metrics)."""
    return {
        get_metric(m).name if isinstance(m, str) else m.name: score(answer_key, predictions, m)
        for m in metrics
    }


def bootstrap_ci(
    answer_key: AnswerKey,
    predictions: Predictions,
    metric,
    *,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the public score: `n` resamples of the public
    rows (with replacement), drawn from `seed` so the interval is reproducible.

    A public split of more than `max_rows` rows is resampled through a subsample of
    `max_rows` rows, the deviations from the subsample's score scaled to the split."""
    m, values = _check(answer_key, predictions, metric)
    idx_public = np.flatnonzero(answer_key.public)
    size = idx_public.shape[0]
    if size == 0:
        return float("nan"), float("nan")
    y = answer_key.targets[idx_public]
    p = values[idx_public]
    rng = np.random.default_rng(seed)
    rescale = None
    if size > max_rows:
        pick = np.sort(rng.choice(size, max_rows, replace=False))
        full = m(y, p, answer_key.n_classes)
        y, p = y[pick], p[pick]
        rescale = (full, m(y, p, answer_key.n_classes), float(np.sqrt(max_rows / size)))
    stats = _resampled(m, y, p, answer_key.n_classes, rng, n)
    alpha = (1.0 - level) / 2.0
    low, high = (float(v) for v in np.nanquantile(stats, [alpha, 1.0 - alpha]))
    if rescale is not None:
        full, sub, factor = rescale
        low, high = full + factor * (low - sub), full + factor * (high - sub)
    return low, high


def _resampled(m: Metric, y: np.ndarray, p: np.ndarray, n_classes, rng, n: int) -> np.ndarray:
    """The metric on `n` resamples of the rows, drawn in chunks that bound the memory."""
    size = y.shape[0]
    stats = np.empty(n, dtype=np.float64)
    of_draws = m.resampling.bind(y, p, n_classes)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // m.resampling.working_arrays // size)
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        draws = rng.integers(0, size, size=(stop - start, size), dtype=np.int32)
        stats[start:stop] = of_draws(draws)
    return stats


def bootstrap_ci_many(
    answer_key: AnswerKey,
    predictions: list[Predictions],
    metric,
    *,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> list[tuple[float, float]]:
    """`bootstrap_ci` of many entries that share the seed, drawing the resamples once.

    Each interval equals the one `bootstrap_ci` gives that entry with the same seed: the
    draws are the same stream, taken in the same chunks. A mean-of-rows metric's resamples
    of every entry are then one matrix product (how many times each resample drew each row,
    times the entries' row terms) instead of a gather per entry; other metrics reuse the
    draws entry by entry. A rescore of thousands of entries spends its time here."""
    if not predictions:
        return []
    m, first = _check(answer_key, predictions[0], metric)
    # Each entry as the metric reads it (a label metric reads a probability file's labels).
    values = [first] + [_check(answer_key, other, m)[1] for other in predictions[1:]]
    idx_public = np.flatnonzero(answer_key.public)
    size = idx_public.shape[0]
    if size == 0:
        return [(float("nan"), float("nan"))] * len(predictions)
    y = answer_key.targets[idx_public]
    ps = [v[idx_public] for v in values]
    rng = np.random.default_rng(seed)
    rescales = None
    if size > max_rows:
        pick = np.sort(rng.choice(size, max_rows, replace=False))
        factor = float(np.sqrt(max_rows / size))
        rescales = [(m(y, p, answer_key.n_classes), m(y[pick], p[pick], answer_key.n_classes)) for p in ps]
        y, ps = y[pick], [p[pick] for p in ps]
    stats = _resampled_many(m, y, ps, answer_key.n_classes, rng, n)
    alpha = (1.0 - level) / 2.0
    out = []
    for i, row in enumerate(stats):
        low, high = (float(v) for v in np.nanquantile(row, [alpha, 1.0 - alpha]))
        if rescales is not None:
            full, sub = rescales[i]
            low, high = full + factor * (low - sub), full + factor * (high - sub)
        out.append((low, high))
    return out


def _resampled_many(m: Metric, y: np.ndarray, ps: list[np.ndarray], n_classes, rng, n: int) -> np.ndarray:
    """_resampled for many entries: the same chunks of draws, each used for every entry."""
    size = y.shape[0]
    stats = np.empty((len(ps), n), dtype=np.float64)
    mean_of_rows = isinstance(m.resampling, MeanOfRows)
    if mean_of_rows:
        terms = np.stack([np.asarray(m.resampling.term(y, p), dtype=np.float64) for p in ps])
    else:
        bound = [m.resampling.bind(y, p, n_classes) for p in ps]
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // m.resampling.working_arrays // size)
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        draws = rng.integers(0, size, size=(stop - start, size), dtype=np.int32)
        if mean_of_rows:
            offsets = (np.arange(stop - start, dtype=np.int64) * size)[:, None]
            counts = np.bincount((draws + offsets).ravel(), minlength=(stop - start) * size)
            counts = counts.reshape(stop - start, size).astype(np.float64)
            stats[:, start:stop] = m.resampling.of_means((terms @ counts.T) / size)
        else:
            for i, of_draws in enumerate(bound):
                stats[i, start:stop] = of_draws(draws)
    return stats


def paired_difference_ci(
    answer_key: AnswerKey,
    baseline: Predictions,
    other: Predictions,
    metric,
    *,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> tuple[float, float, float]:
    """(other's public score minus the baseline's, and its percentile bootstrap interval),
    paired: each resample draws the same rows for both, so what the two share (which rows
    are hard) cancels and only their difference varies. Drawn as `bootstrap_ci` draws (same
    seed, same subsample above `max_rows`, deviations scaled to the split)."""
    m, base_values = _check(answer_key, baseline, metric)
    other_values = _check(answer_key, other, m)[1]
    idx_public = np.flatnonzero(answer_key.public)
    size = idx_public.shape[0]
    if size == 0:
        return float("nan"), float("nan"), float("nan")
    y = answer_key.targets[idx_public]
    pb, po = base_values[idx_public], other_values[idx_public]
    k = answer_key.n_classes
    full = m(y, po, k) - m(y, pb, k)
    rng = np.random.default_rng(seed)
    factor = None
    if size > max_rows:
        pick = np.sort(rng.choice(size, max_rows, replace=False))
        y, pb, po = y[pick], pb[pick], po[pick]
        factor = float(np.sqrt(max_rows / size))
    sub = m(y, po, k) - m(y, pb, k)
    stats = _resampled_many(m, y, [pb, po], k, rng, n)
    diffs = stats[1] - stats[0]
    alpha = (1.0 - level) / 2.0
    low, high = (float(v) for v in np.nanquantile(diffs, [alpha, 1.0 - alpha]))
    if factor is not None:
        low, high = full + factor * (low - sub), full + factor * (high - sub)
    return float(full), low, high

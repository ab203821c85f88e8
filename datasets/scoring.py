"""Answer keys, the predictions-CSV validator, public/private scores and bootstrap intervals.

The validator has two paths that accept exactly the same files. The fast path
parses with pandas' C reader under strict dtypes and checks everything with
vectorised numpy; it only ever accepts. Anything it does not like goes to the
slow path, a row-by-row reader that is the reference for what is valid and
that names the row, column and id of the first problems.

When every test id is an integer, ids are compared as numbers (pandas reads
'7.0' and '+7' as 7, and so does the reference parser); otherwise as text,
with surrounding spaces ignored.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from datasets.formats import prediction_header, sample_submission
from datasets.metrics import Metric, get_metric
from datasets.streams import NotUtf8, TooLarge, decode_utf8, read_capped

__all__ = [
    "AnswerKey",
    "PredictionError",
    "PredictionProblem",
    "Predictions",
    "bootstrap_ci",
    "make_answer_key",
    "parse_predictions",
    "prediction_header",
    "sample_submission",
    "score",
]

MAX_PROBLEMS = 20
PROBA_TOLERANCE = 1e-6
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# ASCII digits only: Python's int() and float() also take '٣' and '１', which no CSV reader does.
_FLOAT_RE = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE | re.ASCII
)
_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)
_CANONICAL_INT_RE = re.compile(r"0|-?[1-9]\d{0,17}", re.ASCII)


# --- the answer key ---------------------------------------------------------------------


@dataclass
class AnswerKey:
    """Hidden test labels with a fixed public/private partition, in test_labels.csv order."""

    ids: np.ndarray  # object array of id strings
    targets: np.ndarray  # int64 class index, or float64 for regression
    public: np.ndarray  # bool
    task_type: str
    classes: list[str] | None
    _lookup: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def n_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else None

    @property
    def int_ids(self) -> np.ndarray | None:
        """The ids as int64 when every id is a canonical integer (the fast path compares numbers)."""
        if "int_ids" not in self._lookup:
            ids = self.ids
            ok = all(_CANONICAL_INT_RE.fullmatch(i) for i in ids)
            self._lookup["int_ids"] = ids.astype(np.int64) if ok and len(ids) else None
        return self._lookup["int_ids"]

    @property
    def class_dtype(self) -> pd.CategoricalDtype:
        """Categories in class order, so a label's category code is its class index."""
        if "class_dtype" not in self._lookup:
            self._lookup["class_dtype"] = pd.CategoricalDtype(categories=self.classes)
        return self._lookup["class_dtype"]

    @property
    def public_idx(self) -> np.ndarray:
        if "public_idx" not in self._lookup:
            self._lookup["public_idx"] = np.flatnonzero(self.public)
        return self._lookup["public_idx"]

    @property
    def private_idx(self) -> np.ndarray:
        if "private_idx" not in self._lookup:
            self._lookup["private_idx"] = np.flatnonzero(~self.public)
        return self._lookup["private_idx"]

    def positions_of_ints(self, values: np.ndarray) -> np.ndarray:
        """Key position of each int id, -1 for ids not in the key."""
        keys = self.int_ids
        if "dense" not in self._lookup:
            lo, hi = int(keys.min()), int(keys.max())
            if hi - lo < 4 * len(keys) + 1024:
                # Ids are usually a dense range: a direct table beats hashing or binary search.
                table = np.full(hi - lo + 1, -1, dtype=np.int64)
                table[keys - lo] = np.arange(len(keys))
                self._lookup["dense"] = (lo, table)
            else:
                self._lookup["dense"] = None
                self._lookup["index"] = pd.Index(keys)
        dense = self._lookup["dense"]
        if dense is None:
            return self._lookup["index"].get_indexer(values)
        lo, table = dense
        off = values - lo
        inside = (off >= 0) & (off < table.shape[0])
        out = np.full(values.shape[0], -1, dtype=np.int64)
        out[inside] = table[off[inside]]
        return out

    def positions_of_strings(self, values) -> np.ndarray:
        if "str_index" not in self._lookup:
            self._lookup["str_index"] = pd.Index(self.ids.tolist(), dtype=object)
        return self._lookup["str_index"].get_indexer(values)

    def to_bytes(self) -> bytes:
        """CSV `id,target,split` (split: public|private), readable and safe to load."""
        if self.classes is not None:
            targets = np.asarray(self.classes, dtype=object)[self.targets]
        else:
            targets = [repr(float(v)) for v in self.targets]
        split = np.where(self.public, "public", "private")
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["id", "target", "split"])
        w.writerows(zip(self.ids, targets, split, strict=True))
        return out.getvalue().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, manifest: dict) -> AnswerKey:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, engine="c")
        if list(frame.columns) != ["id", "target", "split"]:
            raise ValueError("an answer key has the columns id,target,split")
        ids, targets = _targets(frame["id"], frame["target"], manifest)
        split = frame["split"].to_numpy(dtype=object)
        if not np.isin(split, ["public", "private"]).all():
            raise ValueError("an answer key's split is public or private")
        return cls(ids, targets, split == "public", manifest["task_type"], _classes(manifest))


def _classes(manifest: dict) -> list[str] | None:
    return list(manifest["classes"]) if manifest["task_type"] == "classification" else None


def _targets(ids: pd.Series, targets: pd.Series, manifest: dict) -> tuple[np.ndarray, np.ndarray]:
    ids = ids.astype(str).str.strip().to_numpy(dtype=object)
    if len(set(ids.tolist())) != len(ids):
        raise ValueError("the test labels have duplicate ids")
    if manifest["task_type"] == "classification":
        codes = pd.Index(manifest["classes"]).get_indexer(targets.astype(str).str.strip())
        if (codes < 0).any():
            raise ValueError("the test labels hold a label that is not among the manifest's classes")
        return ids, codes.astype(np.int64)
    values = pd.to_numeric(targets, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("the test labels hold a target that is not a finite number")
    return ids, values


def make_answer_key(
    test_labels_csv: bytes, manifest: dict, *, seed: int, public_fraction: float
) -> AnswerKey:
    """The answer key of a competition: hidden labels plus a seeded public/private partition.

    Classification partitions are stratified, so that both splits see every class
    in proportion (a class missing from the public split would skew its score).
    """
    if not 0 < public_fraction < 1:
        raise ValueError(f"public_fraction {public_fraction} must be between 0 and 1")
    frame = pd.read_csv(io.BytesIO(test_labels_csv), dtype=str, keep_default_na=False, engine="c")
    ids, targets = _targets(frame[manifest["id_column"]], frame[manifest["target"]], manifest)
    rng = np.random.default_rng(seed)
    public = np.zeros(len(ids), dtype=bool)
    groups = [np.flatnonzero(targets == c) for c in range(len(manifest["classes"] or []))]
    if manifest["task_type"] != "classification":
        groups = [np.arange(len(ids))]
    for idx in groups:
        k = int(round(len(idx) * public_fraction))
        public[rng.permutation(idx)[:k]] = True
    if len(ids) >= 2 and (public.all() or not public.any()):
        # Tiny test sets: keep at least one row on each side.
        public[:] = False
        public[rng.permutation(len(ids))[: max(1, min(len(ids) - 1, round(len(ids) * public_fraction)))]] = (
            True
        )
    return AnswerKey(ids, targets, public, manifest["task_type"], _classes(manifest))


# --- problems ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionProblem:
    row: int | None  # the line in the file; the header is row 1
    column: str | None
    id: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.id is not None:
            where.append(f"id {self.id!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "id": self.id, "message": self.message}


class PredictionError(ValueError):
    """The predictions file is invalid; `.problems` are the first MAX_PROBLEMS, `.total` counts all."""

    def __init__(self, problems: list[PredictionProblem], total: int | None = None):
        self.problems = list(problems[:MAX_PROBLEMS])
        self.total = max(total or 0, len(problems))
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.total} problem{'s' if self.total != 1 else ''} in the predictions file:"]
        lines += [f"- {p}" for p in self.problems]
        if self.total > len(self.problems):
            lines.append(f"- … and {self.total - len(self.problems)} more")
        return "\n".join(lines)


class _Problems:
    def __init__(self):
        self.items: list[PredictionProblem] = []
        self.total = 0

    def add(self, row, column, id_, message):
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(PredictionProblem(row, column, id_, message))


# --- parsing ----------------------------------------------------------------------------


@dataclass
class Predictions:
    """Predictions aligned to the answer key: values[i] is the prediction for key.ids[i]."""

    values: np.ndarray  # int64 class index, (n, K) float64 probabilities, or float64
    kind: str  # label | proba | value
    metric: str


def _kind(metric: Metric) -> str:
    if metric.needs_proba:
        return "proba"
    return "label" if metric.task_type == "classification" else "value"


FAST_PARSE_MIN_BYTES = 2048


def parse_predictions(
    source,
    *,
    answer_key: AnswerKey,
    manifest: dict,
    metric: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    _fast: bool | None = None,
) -> Predictions:
    """Validate a predictions CSV and align it to the answer key, or raise PredictionError.

    `source` is bytes or a file object; the size cap is enforced while reading.
    """
    m = get_metric(metric)
    if m.task_type != answer_key.task_type:
        raise ValueError(f"metric {metric!r} is for {m.task_type}, the dataset is {answer_key.task_type}")
    try:
        data = read_capped(source, max_bytes)
        text = decode_utf8(data)
    except TooLarge as e:
        raise PredictionError([PredictionProblem(None, None, None, f"the file is {e}")]) from None
    except NotUtf8 as e:
        raise PredictionError([PredictionProblem(e.line, None, None, f"the file {e}")]) from None
    if not text or text.isspace():
        raise PredictionError([PredictionProblem(None, None, None, "the file is empty")])
    expected = prediction_header(manifest, metric)
    newline = text.find("\n")
    first_line = text if newline < 0 else text[:newline]
    header = [h.strip() for h in next(csv.reader([first_line.rstrip("\r")]), [])]
    if header != expected:
        raise PredictionError(
            [
                PredictionProblem(
                    1, None, None, f"the header must be {','.join(expected)!r}; found {','.join(header)!r}"
                )
            ]
        )
    kind = _kind(m)
    if _fast is None:
        # pandas' reader costs about a millisecond to set up; the reference parser reads a
        # small file in a fraction of that (an intake of small files is the common case).
        _fast = len(data) >= FAST_PARSE_MIN_BYTES
    if _fast:
        start = data.index(b"\n") + 1 if b"\n" in data else len(data)
        values = _fast_parse(data[start:], expected, kind, answer_key)
        if values is not None:
            return Predictions(values, kind, m.name)
    return _slow_parse("" if newline < 0 else text[newline + 1 :], expected, kind, answer_key, m.name)


def _fast_parse(body: bytes, header: list[str], kind: str, key: AnswerKey) -> np.ndarray | None:
    """Strictly typed vectorised parse; None when the slow path must judge the file."""
    if not body or b'"' in body:
        return None  # quoted fields may span lines: the slow path counts rows
    # Blank lines need no search: with skip_blank_lines=False they arrive as rows with
    # an empty id, which no answer key holds, so such files go to the slow path too.
    int_ids = key.int_ids is not None
    id_col = header[0]
    dtype: dict = {id_col: np.int64 if int_ids else object}
    for col in header[1:]:
        # Categories given as the class texts: inferred ones would turn '05' into the class 5.
        dtype[col] = key.class_dtype if kind == "label" else np.float64
    try:
        with warnings.catch_warnings():
            # pandas warns while casting a bad id to int, and (for now: it will raise) on a
            # label outside the categories; either way the reference parser names the row.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("error", message=".*not in that dtype's categories")
            frame = pd.read_csv(
                io.BytesIO(body),
                engine="c",
                header=None,
                names=header,
                dtype=dtype,
                na_filter=False,
                skip_blank_lines=False,
            )
    except (ValueError, pd.errors.ParserError, OverflowError, Warning):
        return None
    n = len(key)
    if len(frame) != n:
        return None
    ids = frame[id_col].to_numpy()
    if int_ids:
        pos = None if np.array_equal(ids, key.int_ids) else key.positions_of_ints(ids)
    else:
        pos = None if np.array_equal(ids, key.ids) else key.positions_of_strings(ids)
    if pos is not None:
        if (pos < 0).any():
            return None
        seen = np.zeros(n, dtype=bool)
        seen[pos] = True
        if not seen.all():  # n rows, all known ids, none missing: so none repeated either
            return None
    in_order = pos is None
    if not in_order:
        # Gathering through the inverse permutation is far cheaper than scattering rows.
        inverse = np.empty(n, dtype=np.int64)
        inverse[pos] = np.arange(n)

    def aligned(column: np.ndarray) -> np.ndarray:
        return column if in_order else column.take(inverse)

    if kind == "label":
        codes = frame[header[1]].cat.codes.to_numpy()
        if (codes < 0).any():
            return None
        return aligned(codes.astype(np.int64))
    if kind == "value":
        values = frame[header[1]].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            return None
        return aligned(values)
    # Column-major: each probability column is validated and aligned on its own.
    out = np.empty((n, len(header) - 1), dtype=np.float64, order="F")
    total = np.zeros(n, dtype=np.float64)
    for j, name in enumerate(header[1:]):
        column = frame[name].to_numpy(dtype=np.float64)
        if not (np.isfinite(column).all() and column.min() >= 0 and column.max() <= 1):
            return None
        total += column
        out[:, j] = aligned(column)
    if (np.abs(total - 1.0) > PROBA_TOLERANCE).any():
        return None
    return out


def _slow_parse(body: str, header: list[str], kind: str, key: AnswerKey, metric: str) -> Predictions:
    problems = _Problems()
    n = len(key)
    classes = {c: i for i, c in enumerate(key.classes or [])}
    int_ids = key.int_ids is not None
    if int_ids:
        lookup = {v: i for i, v in enumerate(key.int_ids.tolist())}
    else:
        lookup = {v: i for i, v in enumerate(key.ids.tolist())}
    width = len(header)
    first_row = np.full(n, -1, dtype=np.int64)
    values = np.zeros(
        (n, width - 1) if kind == "proba" else n, dtype=np.int64 if kind == "label" else np.float64
    )
    reader = csv.reader(io.StringIO(body, newline=""))
    line = 1  # the header
    try:
        for row in reader:
            line_no = line + reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                problems.add(
                    line_no, None, None, f"the row has {len(row)} values but the header has {width} columns"
                )
                continue
            raw_id = row[0].strip()
            pos = lookup.get(_as_int(raw_id) if int_ids else raw_id, -1)
            if raw_id == "":
                problems.add(line_no, header[0], None, "missing id")
                continue
            if pos < 0:
                problems.add(line_no, header[0], raw_id, "unknown id: it is not in the test set")
                continue
            if first_row[pos] >= 0:
                problems.add(line_no, header[0], raw_id, f"duplicate id (first on row {first_row[pos]})")
                continue
            first_row[pos] = line_no
            _slow_values(row, header, kind, classes, values, pos, line_no, raw_id, problems)
    except csv.Error as e:
        problems.add(line + reader.line_num, None, None, f"malformed CSV: {e}")
    missing = np.flatnonzero(first_row < 0)
    if missing.size:
        shown = ", ".join(repr(str(key.ids[i])) for i in missing[:5])
        more = ", …" if missing.size > 5 else ""
        problems.add(
            None,
            header[0],
            None,
            f"{missing.size} test {'ids have' if missing.size != 1 else 'id has'} no prediction: {shown}{more}",
        )
    if problems.total:
        raise PredictionError(problems.items, problems.total)
    return Predictions(values, kind, metric)


def _as_int(text: str) -> int | None:
    """An id's integer value: integer ids are compared as numbers, so '7', '+7' and '7.0' are one id."""
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        value = Decimal(text)
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
    return None


def _slow_values(row, header, kind, classes, values, pos, line_no, raw_id, problems) -> None:
    if kind == "label":
        label = row[1].strip()
        if label not in classes:
            allowed = ", ".join(list(classes)[:10]) + (", …" if len(classes) > 10 else "")
            msg = "missing label" if label == "" else f"{label!r} is not a class of this dataset ({allowed})"
            problems.add(line_no, header[1], raw_id, msg)
            return
        values[pos] = classes[label]
        return
    nums = []
    for col, cell in zip(header[1:], row[1:], strict=True):
        cell = cell.strip()
        v = float(cell) if _FLOAT_RE.fullmatch(cell) else None
        if v is None or not np.isfinite(v):
            msg = "missing value" if cell == "" else f"{cell!r} is not a finite number"
            problems.add(line_no, col, raw_id, msg)
            return
        if kind == "proba" and not 0.0 <= v <= 1.0:
            problems.add(line_no, col, raw_id, f"probability {cell} is outside [0, 1]")
            return
        nums.append(v)
    if kind == "value":
        values[pos] = nums[0]
        return
    total = float(np.sum(nums))
    if abs(total - 1.0) > PROBA_TOLERANCE:
        problems.add(
            line_no, None, raw_id, f"the probabilities sum to {total:.9g}; they must sum to 1 (within 1e-06)"
        )
        return
    values[pos] = nums


# --- scores -----------------------------------------------------------------------------


def _check(key: AnswerKey, predictions: Predictions, metric) -> Metric:
    m = metric if isinstance(metric, Metric) else get_metric(metric)
    if _kind(m) != predictions.kind:
        raise ValueError(f"these predictions are {predictions.kind}s; metric {m.name!r} needs {_kind(m)}s")
    if predictions.values.shape[0] != len(key):
        raise ValueError("the predictions are not aligned to this answer key")
    return m


def score(answer_key: AnswerKey, predictions: Predictions, metric) -> tuple[float, float]:
    """(public, private) scores; nan for an empty split."""
    m = _check(answer_key, predictions, metric)
    key = answer_key
    per_row = _per_row_loss(m.name, key.targets, predictions.values)
    if per_row is not None:
        # Mean-of-rows metrics: one pass sums both splits.
        counts = np.bincount(key.public, minlength=2)
        sums = np.bincount(key.public, weights=per_row, minlength=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        if m.name == "rmse":
            means = np.sqrt(means)
        return float(means[1]), float(means[0])
    out = []
    for idx in (key.public_idx, key.private_idx):
        if idx.size == 0:
            out.append(float("nan"))
            continue
        out.append(m(key.targets[idx], predictions.values[idx], key.n_classes))
    return out[0], out[1]


_CHUNK_ELEMENTS = 1 << 22

# Above this many public rows the interval is bootstrapped on a seeded subsample of this
# size and its spread scaled to the whole split by sqrt(rows / size) (the m-out-of-n
# bootstrap of Bickel, Goetze & van Zwet, 1997). Every metric here is a smooth,
# root-n-consistent statistic, for which the rescaled spread estimates the full
# bootstrap's: at 10,000 rows its own error (~1 %) is below the Monte-Carlo error of
# 1,000 resamples, and an interval stops costing seconds per entry on large files
# (a 300,000-row public split took 2-9 s, 108 s for ROC AUC, for every entry scored).
BOOTSTRAP_MAX_ROWS = 10_000


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
    m = _check(answer_key, predictions, metric)
    idx_public = np.flatnonzero(answer_key.public)
    size = idx_public.shape[0]
    if size == 0:
        return float("nan"), float("nan")
    y = answer_key.targets[idx_public]
    p = predictions.values[idx_public]
    rng = np.random.default_rng(seed)
    rescale = None
    if size > max_rows:
        pick = np.sort(rng.choice(size, max_rows, replace=False))
        full = m(y, p, answer_key.n_classes)
        y, p = y[pick], p[pick]
        rescale = (full, m(y, p, answer_key.n_classes), float(np.sqrt(max_rows / size)))
    stats = _bootstrap_stats(m, y, p, answer_key.n_classes, rng, n)
    alpha = (1.0 - level) / 2.0
    low, high = (float(v) for v in np.nanquantile(stats, [alpha, 1.0 - alpha]))
    if rescale is not None:
        full, sub, factor = rescale
        low, high = full + factor * (low - sub), full + factor * (high - sub)
    return low, high


def _bootstrap_stats(m: Metric, y: np.ndarray, p: np.ndarray, n_classes, rng, n: int) -> np.ndarray:
    """The metric on `n` resamples of the rows, drawn in chunks that bound the memory."""
    size = y.shape[0]
    stats = np.empty(n, dtype=np.float64)
    per_row = _per_row_loss(m.name, y, p)
    auc = _AucResampler(y, p) if m.name == "roc_auc" else None
    # The AUC of a chunk holds several (resamples x rows) arrays at once.
    chunk_elements = _CHUNK_ELEMENTS // 4 if auc is not None else _CHUNK_ELEMENTS
    rows_per_chunk = max(1, chunk_elements // size)
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        draws = rng.integers(0, size, size=(stop - start, size), dtype=np.int32)
        if per_row is not None:
            means = per_row[draws].mean(axis=1)
            stats[start:stop] = np.sqrt(means) if m.name == "rmse" else means
        elif m.name in ("balanced_accuracy", "macro_f1"):
            stats[start:stop] = _confusion_stats(m.name, y[draws], p[draws], n_classes)
        elif m.name == "r2":
            yt, yp = y[draws], p[draws]
            ss_res = ((yt - yp) ** 2).sum(axis=1)
            ss_tot = ((yt - yt.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = 1.0 - ss_res / ss_tot
            r[ss_tot == 0] = np.where(ss_res[ss_tot == 0] == 0, 1.0, 0.0)
            stats[start:stop] = r
        elif auc is not None:
            stats[start:stop] = auc.of(draws)
        else:
            raise ValueError(f"no bootstrap for the metric {m.name!r}")
    return stats


class _AucResampler:
    """ROC AUC (binary, or one-vs-rest macro) of many resamples without sorting each one.

    The rows are sorted by score once per class. A resample is then the number of times
    it drew each row, and its Mann-Whitney count is a cumulative sum along that order:
    O(rows) per resample instead of a sort. Equal scores form one group, so a positive
    and a negative with the same score count half, as in datasets.metrics.auc_binary."""

    def __init__(self, y: np.ndarray, proba: np.ndarray):
        k = proba.shape[1]
        self.binary = k == 2
        self.classes = []
        for c in [1] if self.binary else range(k):
            order = np.argsort(proba[:, c], kind="stable")
            ordered = proba[order, c]
            groups = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            self.classes.append((order, groups, (y == c)[order]))

    def of(self, draws: np.ndarray) -> np.ndarray:
        r, size = draws.shape
        offsets = (np.arange(r, dtype=np.int64) * size)[:, None]
        # float32 holds every count and cumulative count exactly (a resample has < 2**24 rows).
        counts = (
            np.bincount((draws + offsets).ravel(), minlength=r * size).reshape(r, size).astype(np.float32)
        )
        per_class = []
        for order, groups, positive in self.classes:
            ordered = counts[:, order]
            neg = ordered * ~positive
            n_neg = neg.sum(axis=1, dtype=np.float64)
            n_pos = ordered.sum(axis=1, dtype=np.float64) - n_neg
            if groups.shape[0] == size:
                # No equal scores: a positive row's group holds no negative.
                wins = np.einsum("ij,ij->i", ordered * positive, np.cumsum(neg, axis=1), dtype=np.float64)
            else:
                pos = np.add.reduceat(ordered * positive, groups, axis=1)
                neg = np.add.reduceat(neg, groups, axis=1)
                below = np.cumsum(neg, axis=1) - neg
                wins = np.einsum("ij,ij->i", pos, below + 0.5 * neg, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                pairs = n_pos * n_neg
                per_class.append(np.where(pairs > 0, wins / pairs, np.nan))
        if self.binary:
            return per_class[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no class left: nan
            return np.nanmean(np.vstack(per_class), axis=0)


def _per_row_loss(name: str, y: np.ndarray, p: np.ndarray) -> np.ndarray | None:
    """Per-row terms for metrics that are a mean over rows."""
    if name == "accuracy":
        return (y == p).astype(np.float64)
    if name == "log_loss":
        eps = np.finfo(np.float64).eps
        return -np.log(np.clip(p[np.arange(y.shape[0]), y], eps, 1 - eps))
    if name == "mae":
        return np.abs(y - p)
    if name == "rmse":
        return (y - p) ** 2
    return None


def _confusion_stats(name: str, yt: np.ndarray, yp: np.ndarray, k: int) -> np.ndarray:
    """Balanced accuracy or macro-F1 of many resamples at once, from per-resample counts."""
    r = yt.shape[0]
    offsets = (np.arange(r) * k)[:, None]
    true_count = np.bincount((yt + offsets).ravel(), minlength=r * k).reshape(r, k)
    hit = yt == yp
    tp = np.bincount((yt + offsets)[hit], minlength=r * k).reshape(r, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "balanced_accuracy":
            present = true_count > 0
            recall = np.where(present, tp / true_count, 0.0)
            return recall.sum(axis=1) / present.sum(axis=1)
        pred_count = np.bincount((yp + offsets).ravel(), minlength=r * k).reshape(r, k)
        present = (true_count + pred_count) > 0
        f1 = np.where(present, 2.0 * tp / (true_count + pred_count), 0.0)
        return f1.sum(axis=1) / present.sum(axis=1)

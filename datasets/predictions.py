"""Reading a predictions CSV: validated against the answer key and aligned to it, or refused
with every problem named by row, column and id.

Two paths accept exactly the same files. The fast path parses with pandas' C reader
under strict dtypes and checks everything with vectorised numpy; it only ever accepts.
Anything it does not like goes to the slow path, a row-by-row reader that is the
reference for what is valid and that names the row, column and id of the first problems.

When every test id is an integer, ids are compared as numbers (pandas reads
'7.0' and '+7' as 7, and so does the reference parser); otherwise as text,
with surrounding spaces ignored.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from common.problems import Problem, ProblemList, ProblemsError, clip, echo
from datasets.answer_key import AnswerKey
from datasets.csv_errors import describe_csv_error
from datasets.formats import prediction_header, prediction_kind
from datasets.metrics import get_metric
from datasets.streams import NotUtf8, TooLarge, decode_utf8, read_capped

# A probability row may sum to 1 give or take this much: rounding each of 20 classes to 3
# decimals, or any number of classes to 6, stays within it. Rows are then divided by their
# sum, so every metric sees probabilities that sum to 1 (Kaggle normalises the same way).
PROBA_TOLERANCE = 0.01
# The rule as participants read it (the competition's rules page and API, docs/leaderboard.md).
PROBABILITY_RULE = (
    f"One probability column per class, each in [0, 1]. A row must sum to 1 within {PROBA_TOLERANCE:g}, "
    "so rows rounded to a few decimals pass; each row is then divided by its sum. Log loss clips "
    "probabilities to [2.2e-16, 1 - 2.2e-16], so a 0 for the true class costs about 36, not infinity."
)
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# pandas' reader costs about a millisecond to set up; the reference parser reads a small
# file in a fraction of that (an intake of small files is the common case).
FAST_PARSE_MIN_BYTES = 2048
# ASCII digits only: Python's int() and float() also take '٣' and '１', which no CSV reader does.
_FLOAT_RE = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE | re.ASCII
)
_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)


class PredictionError(ProblemsError):
    """The predictions file is invalid; each problem names its row (header = 1), column and id."""

    subject = "the predictions file"


@dataclass
class Predictions:
    """Predictions aligned to the answer key: values[i] is the prediction for key.ids[i]."""

    values: np.ndarray  # int64 class index, (n, K) float64 probabilities, or float64
    kind: str  # label | proba | value
    metric: str


def parse_predictions(
    source,
    *,
    answer_key: AnswerKey,
    manifest: dict,
    metric: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    other_metrics: tuple[str, ...] = (),
    _fast: bool | None = None,
) -> Predictions:
    """Validate a predictions CSV and align it to the answer key, or raise PredictionError.

    `source` is bytes or a file object; the size cap is enforced while reading. The file's
    format is the (primary) `metric`'s; `other_metrics` are scored from the same file, and
    any bound on their values (RMSLE: above -1) is checked here too.
    """
    m = get_metric(metric)
    bounds = _value_bounds([m, *(get_metric(name) for name in other_metrics)])
    if m.task_type != answer_key.task_type:
        raise ValueError(f"metric {metric!r} is for {m.task_type}, the dataset is {answer_key.task_type}")
    try:
        data = read_capped(source, max_bytes)
        text = decode_utf8(data)
    except TooLarge as e:
        raise PredictionError([Problem(f"the file is {e}")]) from None
    except NotUtf8 as e:
        raise PredictionError([Problem(f"the file {e}", row=e.line)]) from None
    if not text or text.isspace():
        raise PredictionError([Problem("the file is empty")])
    expected = prediction_header(manifest, metric)
    newline = text.find("\n")
    first_line = text if newline < 0 else text[:newline]
    try:
        header = [h.strip() for h in next(csv.reader([first_line.rstrip("\r")]), [])]
    except csv.Error as e:
        raise PredictionError([Problem(describe_csv_error(e), row=1)]) from None
    if header != expected:
        raise PredictionError(
            [Problem(f"the header must be {','.join(expected)!r}; found {echo(','.join(header))}", row=1)]
        )
    kind = prediction_kind(m)
    if _fast is None:
        _fast = len(data) >= FAST_PARSE_MIN_BYTES
    if _fast:
        start = data.index(b"\n") + 1 if b"\n" in data else len(data)
        values = _fast_parse(data[start:], expected, kind, answer_key, bounds)
        if values is not None:
            return Predictions(values, kind, m.name)
    return _slow_parse("" if newline < 0 else text[newline + 1 :], expected, kind, answer_key, m.name, bounds)


def _value_bounds(metrics) -> tuple[float, str] | None:
    """The tightest lower bound (exclusive) the metrics put on a predicted value, and whose."""
    bounded = [(m.values_above, m.name) for m in metrics if m.values_above is not None]
    return max(bounded) if bounded else None


def _fast_parse(body: bytes, header: list[str], kind: str, key: AnswerKey, bounds=None) -> np.ndarray | None:
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
        if bounds is not None and not (values > bounds[0]).all():
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
    out /= out.sum(axis=1, keepdims=True)
    return out


def _slow_parse(
    body: str, header: list[str], kind: str, key: AnswerKey, metric: str, bounds=None
) -> Predictions:
    problems = ProblemList()
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
                problems.add(f"the row has {len(row)} values but the header has {width} columns", row=line_no)
                continue
            raw_id = row[0].strip()
            pos = lookup.get(_as_int(raw_id) if int_ids else raw_id, -1)
            if raw_id == "":
                problems.add("missing id", row=line_no, column=header[0])
                continue
            if pos < 0:
                problems.add(
                    "unknown id: it is not in the test set", row=line_no, column=header[0], id=raw_id
                )
                continue
            if first_row[pos] >= 0:
                problems.add(
                    f"duplicate id (first on row {first_row[pos]})", row=line_no, column=header[0], id=raw_id
                )
                continue
            first_row[pos] = line_no
            _slow_values(row, header, kind, classes, values, pos, line_no, raw_id, problems, bounds)
    except csv.Error as e:
        problems.add(describe_csv_error(e), row=line + reader.line_num)
    missing = np.flatnonzero(first_row < 0)
    if missing.size:
        shown = ", ".join(repr(str(key.ids[i])) for i in missing[:5])
        more = ", …" if missing.size > 5 else ""
        problems.add(
            f"{missing.size} test {'ids have' if missing.size != 1 else 'id has'} no prediction: {shown}{more}",
            column=header[0],
        )
    problems.raise_if_any(PredictionError)
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


def _slow_values(row, header, kind, classes, values, pos, line_no, raw_id, problems, bounds=None) -> None:
    if kind == "label":
        label = row[1].strip()
        if label not in classes:
            allowed = ", ".join(list(classes)[:10]) + (", …" if len(classes) > 10 else "")
            msg = (
                "missing label"
                if label == ""
                else f"{echo(label)} is not a class of this dataset ({allowed})"
            )
            problems.add(msg, row=line_no, column=header[1], id=raw_id)
            return
        values[pos] = classes[label]
        return
    nums = []
    for col, cell in zip(header[1:], row[1:], strict=True):
        cell = cell.strip()
        v = float(cell) if _FLOAT_RE.fullmatch(cell) else None
        if v is None or not np.isfinite(v):
            msg = "missing value" if cell == "" else f"{echo(cell)} is not a finite number"
            problems.add(msg, row=line_no, column=col, id=raw_id)
            return
        if kind == "proba" and not 0.0 <= v <= 1.0:
            problems.add(f"probability {clip(cell)} is outside [0, 1]", row=line_no, column=col, id=raw_id)
            return
        nums.append(v)
    if kind == "value":
        if bounds is not None and not nums[0] > bounds[0]:
            problems.add(
                f"{clip(row[1].strip())} is not greater than {bounds[0]:g}, which metric {bounds[1]!r} needs",
                row=line_no,
                column=header[1],
                id=raw_id,
            )
            return
        values[pos] = nums[0]
        return
    total = float(np.sum(nums))
    if abs(total - 1.0) > PROBA_TOLERANCE:
        problems.add(
            f"the probabilities sum to {total:.9g}; they must sum to 1 (within {PROBA_TOLERANCE:g}: "
            "each row is divided by its sum)",
            row=line_no,
            id=raw_id,
        )
        return
    values[pos] = np.asarray(nums) / total

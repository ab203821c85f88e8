"""Turn an admin's uploaded CSVs (train and test, both labelled) into a dataset bundle.

Everything is checked before anything is produced, and every problem names its
file, row (the line number in the file, header = 1) and column, so the admin can
fix the file at once. The caller stores nothing unless a bundle comes back.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.problems import MAX_PROBLEMS, ProblemList, ProblemsError, echo
from datasets.bundle import HIDDEN_FILES, DatasetBundle, make_manifest, write_csv
from datasets.categorical import categorical_inputs
from datasets.csv_errors import describe_csv_error
from datasets.formats import sample_submission
from datasets.metrics import METRICS
from datasets.splits import stratified_mask
from datasets.streams import NotUtf8, TooLarge, decode_utf8, read_capped

MAX_CLASSES = 1000
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TASK_TYPES = ("classification", "regression")
DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}


class UploadError(ProblemsError):
    """The upload cannot become a dataset; each problem names its file, row (header = 1) and column."""

    subject = "the upload"

    def as_dicts(self) -> list[dict]:
        """The upload API's shape: file, row and column on every problem, None where not known."""
        return [
            {"file": p.file, "row": p.row, "column": p.column, "message": p.message} for p in self.problems
        ]


@dataclass
class _Table:
    name: str
    header: list[str]
    rows: list[list[str]]  # only rows with the header's width
    lines: np.ndarray  # the file line of each row in `rows`
    text: str = ""


def _read_table(source, name: str, max_bytes: int, problems: ProblemList) -> _Table | None:
    start = problems.total
    try:
        data = read_capped(source, max_bytes)
    except TooLarge as e:
        problems.add(f"the file is {e}", file=name)
        return None
    try:
        text = decode_utf8(data)
    except NotUtf8 as e:
        problems.add(f"the file {e}", file=name, row=e.line)
        return None
    if not text.strip():
        problems.add("the file is empty", file=name)
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
        seen: set[str] = set()
        for i, h in enumerate(header):
            if not h:
                problems.add(f"column {i + 1} of the header has no name", file=name, row=1)
            elif h in seen:
                problems.add("this column name appears twice in the header", file=name, row=1, column=h)
            seen.add(h)
        if problems.total > start:
            return None
        rows, lines = [], []
        width = len(header)
        for row in reader:
            if not row:
                continue  # blank lines carry no data
            if len(row) != width:
                problems.add(
                    f"the row has {len(row)} values but the header has {width} columns",
                    file=name,
                    row=reader.line_num,
                )
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        problems.add(describe_csv_error(e), file=name, row=reader.line_num)
        return None
    if not rows and problems.total == start:
        problems.add("the file has a header but no data rows", file=name)
        return None
    return _Table(name, header, rows, np.asarray(lines, dtype=np.int64), text)


def _column(table: _Table, col: str) -> np.ndarray:
    i = table.header.index(col)
    return np.array([r[i].strip() for r in table.rows], dtype=object)


def _all_numbers(table: _Table, columns: list[str]) -> bool:
    """True when pandas' C reader, the one load_arrays uses, reads every cell of these
    columns as a finite number: then no cell needs checking one by one."""
    if not columns:
        return True
    try:
        frame = pd.read_csv(
            io.StringIO(table.text),
            engine="c",
            usecols=columns,
            dtype={c: np.float64 for c in columns},
            na_filter=False,
        )
    except (ValueError, pd.errors.ParserError, OverflowError):
        return False
    return len(frame) == len(table.rows) and bool(np.isfinite(frame.to_numpy()).all())


def _check_numbers(
    table: _Table, col: str, values: np.ndarray, problems: ProblemList, what: str
) -> np.ndarray:
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    for j in np.flatnonzero(~np.isfinite(numbers)):
        v = values[j]
        msg = (
            f"missing value; {what} must be numbers"
            if v == ""
            else f"{echo(v)} is not a finite number; {what} must be numbers"
        )
        problems.add(msg, file=table.name, row=int(table.lines[j]), column=col)
        if problems.total > MAX_PROBLEMS:
            break
    return numbers


def _check_ids(table: _Table, ids: np.ndarray, id_column: str, problems: ProblemList) -> None:
    for j in np.flatnonzero(ids == ""):
        problems.add("missing id", file=table.name, row=int(table.lines[j]), column=id_column)
    dup = pd.Series(ids).duplicated(keep="first").to_numpy()
    if dup.any():
        first = {}
        for j, v in enumerate(ids):
            first.setdefault(v, j)
        for j in np.flatnonzero(dup):
            problems.add(
                f"duplicate id {echo(ids[j])} (first on row {int(table.lines[first[ids[j]]])})",
                file=table.name,
                row=int(table.lines[j]),
                column=id_column,
            )


def _sorted_labels(labels) -> list[str]:
    labels = list(labels)
    try:
        return sorted(labels, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(labels)


def check_ids_and_targets(
    tr: _Table,
    te: _Table | None,
    *,
    id_column: str,
    target_column: str,
    task_type: str,
    problems: ProblemList,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str] | None]:
    """Ids (present, unique, none of test.csv's in train.csv) and targets (present; numbers
    for a regression; at least two classes, each of test.csv's in train.csv) of the tables:
    {file: (ids, targets)} and the sorted classes (None for a regression)."""
    parsed = {}
    for table in [t for t in (tr, te) if t is not None]:
        ids = _column(table, id_column)
        _check_ids(table, ids, id_column, problems)
        y = _column(table, target_column)
        if task_type == "regression":
            _check_numbers(table, target_column, y, problems, "regression targets")
        else:
            for j in np.flatnonzero(y == ""):
                problems.add("missing label", file=table.name, row=int(table.lines[j]), column=target_column)
        parsed[table.name] = (ids, y)
    if te is not None:
        train_ids = set(parsed["train.csv"][0].tolist())
        test_ids = parsed["test.csv"][0]
        for j, v in enumerate(test_ids):
            if v in train_ids and v != "":
                problems.add(
                    f"id {echo(v)} is also in train.csv",
                    file="test.csv",
                    row=int(te.lines[j]),
                    column=id_column,
                )
    classes = None
    if task_type == "classification":
        y_tr = parsed["train.csv"][1]
        present = set(y_tr.tolist())
        if len(present) < 2:
            only = next(iter(present))
            problems.add(
                f"has a single class {echo(only)}; classification needs at least two",
                file="train.csv",
                column=target_column,
            )
        elif len(present) > MAX_CLASSES:
            problems.add(
                f"has {len(present)} classes (at most {MAX_CLASSES}); is it a regression?",
                file="train.csv",
                column=target_column,
            )
        if te is not None:
            y_te = parsed["test.csv"][1]
            for j in np.flatnonzero(~np.isin(y_te, list(present))):
                problems.add(
                    f"label {echo(y_te[j])} does not occur in train.csv",
                    file="test.csv",
                    row=int(te.lines[j]),
                    column=target_column,
                )
        classes = _sorted_labels(present)
    return parsed, classes


DEFAULT_TEST_FRACTION = 0.2


def check_upload_settings(
    problems: ProblemList,
    *,
    slug: str,
    title: str,
    task_type: str,
    metric: str | None,
    has_test: bool,
    test_fraction: float | None,
) -> str:
    """The checks every upload's settings get (slug, title, task type, metric, test split);
    the metric to use (the task type's default when none is given)."""
    if not SLUG_RE.match(slug or ""):
        problems.add(f"slug {echo(slug)} must be lower-case letters, digits and single dashes")
    if not (title or "").strip():
        problems.add("the title is empty")
    if task_type not in TASK_TYPES:
        problems.add(f"task type {echo(task_type)} must be one of {', '.join(TASK_TYPES)}")
    metric = metric or DEFAULT_METRIC.get(task_type, "accuracy")
    if metric not in METRICS:
        problems.add(f"unknown metric {echo(metric)}; choose one of {', '.join(METRICS)}")
    elif task_type in TASK_TYPES and METRICS[metric].task_type != task_type:
        problems.add(f"metric {metric!r} is for {METRICS[metric].task_type}, not {task_type}")
    if not has_test:
        fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        if not 0 < fraction < 1:
            problems.add(f"test fraction {fraction} must be between 0 and 1")
    elif test_fraction is not None:
        problems.add("give either a test file or a test fraction, not both")
    return metric


def bundle_from_upload(
    *,
    train,
    test=None,
    slug: str,
    title: str,
    task_type: str,
    target_column: str,
    id_column: str = "id",
    test_fraction: float | None = None,
    split_seed: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    description: str = "",
    license: str = "",
    metric: str | None = None,
    input_shape: list[int] | None = None,
    version: int = 1,
    categorical_columns: list[str] | None = None,
) -> DatasetBundle:
    """Validate uploaded CSVs and build a bundle, or raise UploadError.

    `train` and `test` are bytes or file objects (read with the size cap
    `max_bytes` per file). Without `test`, a `test_fraction` of `train` (stratified
    for classification, seeded by `split_seed`) becomes the test set.
    """
    problems = ProblemList()
    metric = check_upload_settings(
        problems,
        slug=slug,
        title=title,
        task_type=task_type,
        metric=metric,
        has_test=test is not None,
        test_fraction=test_fraction,
    )
    if test is None and test_fraction is None:
        test_fraction = DEFAULT_TEST_FRACTION
    problems.raise_if_any(UploadError)

    tables = [_read_table(train, "train.csv", max_bytes, problems)]
    if test is not None:
        tables.append(_read_table(test, "test.csv", max_bytes, problems))
    tr = tables[0]
    te = tables[1] if test is not None else None
    if any(t is None for t in tables):
        problems.raise_if_any(UploadError)
    before_headers = problems.total

    # Header checks first: rows cannot be judged against a wrong header.
    if tr is not None:
        for col in (id_column, target_column):
            if col not in tr.header:
                what = "id" if col == id_column else "target"
                problems.add(
                    f"the {what} column {echo(col)} is missing from the header",
                    file="train.csv",
                    row=1,
                    column=col,
                )
    features = [h for h in (tr.header if tr else []) if h not in (id_column, target_column)]
    if tr is not None and not features and id_column in tr.header and target_column in tr.header:
        problems.add("there are no feature columns besides the id and the target", file="train.csv", row=1)
    categorical = list(dict.fromkeys(categorical_columns or ()))
    for col in categorical:
        if tr is not None and col not in features:
            problems.add(
                f"the categorical column {echo(col)} is not a feature column of the header",
                file="train.csv",
                row=1,
                column=col,
            )
    numeric = [f for f in features if f not in categorical]
    if te is not None and problems.total == before_headers:
        for col in (id_column, target_column):
            if col not in te.header:
                what = "id" if col == id_column else "target (upload the test set with its labels)"
                problems.add(
                    f"the {what} column {echo(col)} is missing from the header",
                    file="test.csv",
                    row=1,
                    column=col,
                )
        te_features = [h for h in te.header if h not in (id_column, target_column)]
        missing = [f for f in features if f not in te_features]
        extra = [f for f in te_features if f not in features]
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if extra:
                parts.append("not in train.csv: " + ", ".join(extra))
            problems.add(
                "the columns differ from train.csv's features: " + "; ".join(parts), file="test.csv", row=1
            )
    if problems.total > before_headers:
        problems.raise_if_any(UploadError)
    if input_shape is not None and int(np.prod(input_shape)) != len(features):
        problems.add(
            f"input shape {input_shape} holds {int(np.prod(input_shape))} values, not {len(features)}"
        )
        problems.raise_if_any(UploadError)

    # Row checks, every file.
    for table in [t for t in (tr, te) if t is not None]:
        if not _all_numbers(table, numeric):
            for f in numeric:
                _check_numbers(table, f, _column(table, f), problems, "features")
        for f in categorical:
            for j in np.flatnonzero(_column(table, f) == ""):
                problems.add(
                    "missing category; write a value (a category train.csv lacks reads as unknown)",
                    file=table.name,
                    row=int(table.lines[j]),
                    column=f,
                )
    parsed, classes = check_ids_and_targets(
        tr, te, id_column=id_column, target_column=target_column, task_type=task_type, problems=problems
    )
    problems.raise_if_any(UploadError)
    return _assemble(
        tr=tr,
        te=te,
        parsed=parsed,
        features=features,
        categorical=categorical,
        id_column=id_column,
        target_column=target_column,
        classes=classes,
        test_fraction=test_fraction,
        split_seed=split_seed,
        meta={
            "slug": slug,
            "version": version,
            "title": title.strip(),
            "description": description,
            "license": license,
            "task_type": task_type,
            "metric": metric,
            "input_shape": input_shape or [len(features)],
        },
    )


def _assemble(
    *,
    tr,
    te,
    parsed,
    features,
    categorical,
    id_column,
    target_column,
    classes,
    test_fraction,
    split_seed,
    meta,
):
    def cells(table: _Table) -> list[tuple[str, ...]]:
        # Feature cells are written as the admin wrote them: they were checked to read as
        # numbers (spaces around a number included) with the reader load_arrays uses.
        pick = operator.itemgetter(*[table.header.index(f) for f in features])
        if len(features) == 1:
            return [(pick(r),) for r in table.rows]
        return [pick(r) for r in table.rows]

    tr_ids, tr_y = parsed["train.csv"]
    tr_x = cells(tr)
    if te is None:
        mask = stratified_mask(
            len(tr_ids),
            fraction=test_fraction,
            rng=np.random.default_rng(split_seed),
            labels=tr_y if classes is not None else None,
        )
        te_ids, te_y, te_x = tr_ids[mask], tr_y[mask], [x for x, m in zip(tr_x, mask, strict=True) if m]
        tr_ids, tr_y, tr_x = tr_ids[~mask], tr_y[~mask], [x for x, m in zip(tr_x, mask, strict=True) if not m]
    else:
        te_ids, te_y = parsed["test.csv"]
        te_x = cells(te)
    files = {
        "train.csv": write_csv(
            [id_column, *features, target_column],
            ([i, *x, y] for i, x, y in zip(tr_ids, tr_x, tr_y, strict=True)),
        ),
        "test.csv": write_csv([id_column, *features], ([i, *x] for i, x in zip(te_ids, te_x, strict=True))),
        "test_labels.csv": write_csv([id_column, target_column], zip(te_ids, te_y, strict=True)),
    }
    partial = {
        "id_column": id_column,
        "target": target_column,
        "classes": classes,
        "task_type": meta["task_type"],
    }
    files["sample_submission.csv"] = sample_submission(partial, meta["metric"], te_ids.tolist())
    hidden = set(HIDDEN_FILES)
    extra = None
    if categorical:
        # Categories come from the training rows alone: a test row's category that no
        # training row has reads as "unknown" (code 0), as it would for unseen data.
        extra = {"inputs": categorical_inputs(features, categorical, tr_x)}
    manifest = make_manifest(
        **meta,
        extra=extra,
        id_column=id_column,
        target=target_column,
        features=features,
        classes=classes,
        rows={"train": len(tr_ids), "test": len(te_ids)},
        split_seed=split_seed if te is None else None,
        files=files,
        hidden=hidden,
    )
    return DatasetBundle(files=files, manifest=manifest, hidden=hidden)

"""An organizer's text CSVs (an id, a text and a label column) -> a text dataset bundle.

Checked like every upload (each problem names its file, row and column; nothing is
produced unless everything passes), and further: text that is not UTF-8 (named down to
its column), empty texts, and texts with more tokens than the declared maximum length,
unless the organizer chose to cut them there. The tokenizer is trained on the training
split's texts only (`datasets.text`).
"""

from __future__ import annotations

import csv
import io

import numpy as np

from common.problems import ProblemList, echo
from datasets.bundle import HIDDEN_FILES, DatasetBundle, make_manifest, write_csv
from datasets.formats import sample_submission
from datasets.splits import stratified_mask
from datasets.streams import NotUtf8, TooLarge, decode_utf8, read_capped
from datasets.text import (
    DEFAULT_LENGTH,
    DEFAULT_VOCAB,
    MAX_LENGTH,
    MAX_VOCAB,
    MIN_LENGTH,
    MIN_VOCAB,
    EncodedText,
    encode_splits,
    token_files,
    token_inputs,
)
from datasets.upload import (
    DEFAULT_MAX_BYTES,
    UploadError,
    _column,
    _read_table,
    _Table,
    check_ids_and_targets,
    check_upload_settings,
)


def _undecodable_column(data: bytes, err: NotUtf8) -> str | None:
    """The header name of the column holding the first byte that is not UTF-8."""
    header = next(csv.reader(io.StringIO(data.split(b"\n", 1)[0].decode("utf-8", "replace"))), [])
    start = data.rfind(b"\n", 0, err.offset) + 1
    end = data.find(b"\n", err.offset)
    line = data[start : end if end >= 0 else len(data)]
    before = line[: err.offset - start].decode("utf-8", "replace")
    cells = next(csv.reader(io.StringIO(before)), [""])
    i = len(cells) - 1
    return header[i].strip() if err.line > 1 and 0 <= i < len(header) else None


def _read_text_table(source, name: str, max_bytes: int, problems: ProblemList) -> _Table | None:
    try:
        data = read_capped(source, max_bytes)
    except TooLarge as e:
        problems.add(f"the file is {e}", file=name)
        return None
    try:
        decode_utf8(data)
    except NotUtf8 as e:
        problems.add(f"the text {e}", file=name, row=e.line, column=_undecodable_column(data, e))
        return None
    return _read_table(data, name, max_bytes, problems)


def _check_header(table: _Table, columns: dict[str, str], problems: ProblemList) -> None:
    for what, col in columns.items():
        if col not in table.header:
            problems.add(
                f"the {what} column {echo(col)} is missing from the header",
                file=table.name,
                row=1,
                column=col,
            )
    extra = [h for h in table.header if h not in columns.values()]
    if extra:
        problems.add(
            f"a text dataset has an id, a text and a label column; remove {', '.join(echo(h) for h in extra)}",
            file=table.name,
            row=1,
        )


def bundle_from_text_upload(
    *,
    train,
    test=None,
    slug: str,
    title: str,
    task_type: str,
    target_column: str,
    text_column: str,
    id_column: str = "id",
    test_fraction: float | None = None,
    split_seed: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    description: str = "",
    license: str = "",
    metric: str | None = None,
    version: int = 1,
    vocab_size: int = DEFAULT_VOCAB,
    max_length: int = DEFAULT_LENGTH,
    truncate: bool = False,
) -> DatasetBundle:
    """Validate uploaded text CSVs, train the tokenizer, encode the texts; or raise UploadError.

    A text with more than `max_length` tokens is refused (file, row, column) unless
    `truncate`, which keeps its first `max_length` tokens (the manifest counts them).
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
    if not (isinstance(vocab_size, int) and MIN_VOCAB <= vocab_size <= MAX_VOCAB):
        problems.add(
            f"vocabulary size {echo(vocab_size)} must be a whole number from {MIN_VOCAB} to {MAX_VOCAB}"
        )
    if not (isinstance(max_length, int) and MIN_LENGTH <= max_length <= MAX_LENGTH):
        problems.add(
            f"maximum length {echo(max_length)} must be a whole number from {MIN_LENGTH} to {MAX_LENGTH}"
        )
    if len({id_column, text_column, target_column}) < 3:
        problems.add("the id, text and label columns must be three different columns")
    problems.raise_if_any(UploadError)

    tr = _read_text_table(train, "train.csv", max_bytes, problems)
    te = _read_text_table(test, "test.csv", max_bytes, problems) if test is not None else None
    problems.raise_if_any(UploadError)
    columns = {"id": id_column, "text": text_column, "label": target_column}
    for table in (t for t in (tr, te) if t is not None):
        _check_header(table, columns, problems)
    problems.raise_if_any(UploadError)

    texts = {}
    for table in (t for t in (tr, te) if t is not None):
        raw = np.array([r[table.header.index(text_column)] for r in table.rows], dtype=object)
        for j in np.flatnonzero(_column(table, text_column) == ""):
            problems.add("the text is empty", file=table.name, row=int(table.lines[j]), column=text_column)
        texts[table.name] = raw
    parsed, classes = check_ids_and_targets(
        tr, te, id_column=id_column, target_column=target_column, task_type=task_type, problems=problems
    )
    problems.raise_if_any(UploadError)

    # The splits, each with the file and line its rows came from (for over-long rows).
    tr_ids, tr_y = parsed["train.csv"]
    tr_text, tr_lines = texts["train.csv"], tr.lines
    tr_files = np.full(len(tr_ids), "train.csv", dtype=object)
    if te is None:
        mask = stratified_mask(
            len(tr_ids),
            fraction=test_fraction if test_fraction is not None else 0.2,
            rng=np.random.default_rng(split_seed),
            labels=tr_y if classes is not None else None,
        )
        splits = {
            "train": (tr_ids[~mask], tr_text[~mask], tr_y[~mask], tr_files[~mask], tr_lines[~mask]),
            "test": (tr_ids[mask], tr_text[mask], tr_y[mask], tr_files[mask], tr_lines[mask]),
        }
    else:
        te_ids, te_y = parsed["test.csv"]
        splits = {
            "train": (tr_ids, tr_text, tr_y, tr_files, tr_lines),
            "test": (
                te_ids,
                texts["test.csv"],
                te_y,
                np.full(len(te_ids), "test.csv", dtype=object),
                te.lines,
            ),
        }
    encoded = encode_splits(
        splits["train"][1].tolist(), splits["test"][1].tolist(), vocab_size=vocab_size, max_length=max_length
    )
    if not truncate:
        for split, lengths in (("train", encoded.train_lengths), ("test", encoded.test_lengths)):
            _, _, _, files, lines = splits[split]
            for j in np.flatnonzero(lengths > max_length):
                problems.add(
                    f"the text has {int(lengths[j])} tokens, more than the maximum length {max_length}; "
                    f"shorten it, raise the maximum length (up to {MAX_LENGTH}) or choose truncation",
                    file=str(files[j]),
                    row=int(lines[j]),
                    column=text_column,
                )
        problems.raise_if_any(UploadError)
    return text_bundle(
        splits={k: v[:3] for k, v in splits.items()},
        encoded=encoded,
        classes=classes,
        id_column=id_column,
        text_column=text_column,
        target_column=target_column,
        max_length=max_length,
        split_seed=split_seed if te is None else None,
        meta={
            "slug": slug,
            "version": version,
            "title": title.strip(),
            "description": description,
            "license": license,
            "task_type": task_type,
            "metric": metric,
        },
    )


def text_bundle(
    *,
    splits: dict,
    encoded: EncodedText,
    classes: list[str] | None,
    id_column: str,
    text_column: str,
    target_column: str,
    max_length: int,
    split_seed: int | None,
    meta: dict,
) -> DatasetBundle:
    """The files and manifest of a text dataset from its splits {train|test: (ids, texts,
    targets)} and their encoding (uploads and the built-in catalog both end here)."""
    tr_ids, tr_text, tr_y = splits["train"]
    te_ids, te_text, te_y = splits["test"]
    files = {
        "train.csv": write_csv(
            [id_column, text_column, target_column], zip(tr_ids, tr_text, tr_y, strict=True)
        ),
        "test.csv": write_csv([id_column, text_column], zip(te_ids, te_text, strict=True)),
        "test_labels.csv": write_csv([id_column, target_column], zip(te_ids, te_y, strict=True)),
        **token_files(encoded),
    }
    partial = {
        "id_column": id_column,
        "target": target_column,
        "classes": classes,
        "task_type": meta["task_type"],
    }
    files["sample_submission.csv"] = sample_submission(partial, meta["metric"], [str(i) for i in te_ids])
    hidden = set(HIDDEN_FILES)
    manifest = make_manifest(
        **meta,
        id_column=id_column,
        target=target_column,
        features=[text_column],
        input_shape=[max_length],
        classes=classes,
        rows={"train": len(tr_ids), "test": len(te_ids)},
        split_seed=split_seed,
        files=files,
        hidden=hidden,
        extra={"inputs": token_inputs(encoded, text_column=text_column, max_length=max_length)},
    )
    return DatasetBundle(files=files, manifest=manifest, hidden=hidden)

"""The Data tab's tables: the columns of the training file (from the manifest), a preview
of its first rows, and every public file as one zip ("download all")."""

from __future__ import annotations

import csv
import tempfile
import zipfile
from dataclasses import dataclass

from django.core.cache import cache
from django.http import Http404

from podium.competitions import selectors

PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 12  # an image dataset has a column per pixel: the preview shows the first ones
MAX_COLUMN_ROWS = 40
PREVIEW_BYTES = 64 * 1024  # the first rows of a file, never the whole file
PREVIEW_CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Column:
    name: str
    role: str  # "id", "feature" or "target"
    kind: str  # what its values are, in words


def columns(manifest: dict) -> tuple[list[Column], int]:
    """The training file's columns as the manifest describes them (at most MAX_COLUMN_ROWS),
    and how many there are in all."""
    features = list(manifest.get("features") or [])
    target_kind = (
        f"one of {len(manifest['classes'])} classes"
        if manifest.get("classes")
        else ("a number" if manifest.get("task_type") == "regression" else "the label")
    )
    rows = []
    if manifest.get("id_column"):
        rows.append(Column(manifest["id_column"], "id", "a row's id (the predictions file repeats it)"))
    rows += [Column(name, "feature", "a number") for name in features]
    if manifest.get("target"):
        rows.append(Column(manifest["target"], "target", target_kind + " (hidden for the test rows)"))
    return rows[:MAX_COLUMN_ROWS], len(rows)


@dataclass(frozen=True)
class Preview:
    name: str
    header: list[str]
    rows: list[list[str]]
    more_columns: int


def preview(dataset, name: str = "train.csv") -> Preview | None:
    """The first rows of a public file (hidden ones are never found), read from the start of
    the file only; None when the dataset has no such file."""
    try:
        found = selectors.dataset_public_file(dataset=dataset, name=name)
    except Http404:
        return None
    # A file's content never changes under its sha256, and with object storage every read is
    # a request to it: the preview is read once and kept in the shared cache.
    key = f"data-preview:{found.sha256}"
    cached = cache.get(key)
    if cached is None:
        cached = _read_preview(found)
        cache.set(key, cached, PREVIEW_CACHE_SECONDS)
    if not cached:
        return None
    header, rows = cached
    return Preview(
        name=name,
        header=header[:PREVIEW_COLUMNS],
        rows=[row[:PREVIEW_COLUMNS] for row in rows],
        more_columns=max(0, len(header) - PREVIEW_COLUMNS),
    )


def _read_preview(found) -> tuple[list[str], list[list[str]]] | tuple[()]:
    """The header and the first rows of a stored file; () when it has none."""
    with found.file.open("rb") as handle:
        head = handle.read(PREVIEW_BYTES).decode("utf-8", errors="replace")
    lines = head.splitlines()
    if len(lines) > PREVIEW_ROWS + 1:
        lines = lines[: PREVIEW_ROWS + 1]
    elif head and not head.endswith("\n") and len(lines) > 1:
        lines = lines[:-1]  # the last line was cut by the byte limit
    parsed = list(csv.reader(lines))
    if not parsed:
        return ()
    return parsed[0], parsed[1:]


def zip_of_public_files(dataset):
    """Every public file of the dataset in one zip, spooled to disk past 8 MiB (dataset files
    are capped at upload, so the zip is bounded too). Returns the open file at its start."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for row in selectors.dataset_public_files(dataset=dataset):
            with row.file.open("rb") as source, archive.open(row.name, "w") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
    spool.seek(0)
    return spool

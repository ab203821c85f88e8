"""What Python's csv reader refuses, said so that the person who made the file can fix it."""

from __future__ import annotations

import csv


def describe_csv_error(error: csv.Error) -> str:
    """The message of a Problem for a csv.Error; the caller locates it (the reader's line)."""
    text = str(error)
    if text.startswith("field larger than field limit"):
        # The reader's own limit (131,072 characters by default) keeps a file without
        # delimiters from becoming one huge value in memory; no real value comes near it.
        return f"a value is longer than {csv.field_size_limit():,} characters, the most a CSV field may hold"
    return f"malformed CSV: {text}"

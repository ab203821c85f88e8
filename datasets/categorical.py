"""Categorical feature columns: their categories in the manifest and their integer codes.

A categorical column is a feature column of category names (`red`, `paris`). The manifest
lists each one's categories, taken from the training rows alone; arrays hold a category's
code, 1 + its place in that list, and 0 for a name the list lacks (a category of test.csv
that no training row has), so a model embeds it as "unknown" instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

UNKNOWN_CODE = 0


def categorical_inputs(
    features: Sequence[str], categorical: Sequence[str], rows: Sequence[Sequence[str]]
) -> dict:
    """The manifest's `inputs` of a table whose `categorical` columns hold category names;
    `rows` are the training rows' feature cells in `features` order."""
    columns = {}
    for col in categorical:
        i = list(features).index(col)
        names = sorted({str(r[i]).strip() for r in rows})
        columns[col] = {"index": i, "categories": names}
    return {"kind": "tabular", "categorical": columns}


def categorical_columns(manifest: Mapping) -> dict[str, dict]:
    """Column name -> {index, categories} of a manifest's categorical columns (empty when none)."""
    inputs = manifest.get("inputs") or {}
    return dict(inputs.get("categorical") or {})


def encode_categories(values: Sequence[str], categories: Sequence[str]) -> np.ndarray:
    """Category names -> codes (float32, as the feature arrays hold them): 1 + the place in
    `categories`, UNKNOWN_CODE for a name not among them."""
    names = pd.Series(values, dtype=object).astype(str).str.strip()
    codes = pd.Index(list(categories)).get_indexer(names) + 1  # -1 (absent) + 1 = UNKNOWN_CODE
    return codes.astype(np.float32)


def cardinality(column: Mapping) -> int:
    """How many codes a column's embedding needs: its categories and the unknown one."""
    return len(column["categories"]) + 1


def split_columns(text: str | None) -> list[str]:
    """Column names written in one form field, comma-separated ("color, city")."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]

"""The answer key of a competition: the hidden test labels and their seeded public/private
partition, stored as CSV `id,target,split` and loaded once per scorer process."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.problems import Problem, ProblemList, ProblemsError, echo
from datasets.splits import stratified_mask

_CANONICAL_INT_RE = re.compile(r"0|-?[1-9]\d{0,17}", re.ASCII)


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
    stratify = targets if manifest["task_type"] == "classification" else None
    public = stratified_mask(len(ids), fraction=public_fraction, rng=rng, labels=stratify)
    if len(ids) >= 2 and (public.all() or not public.any()):
        # Tiny test sets: keep at least one row on each side.
        public[:] = False
        public[rng.permutation(len(ids))[: max(1, min(len(ids) - 1, round(len(ids) * public_fraction)))]] = (
            True
        )
    return AnswerKey(ids, targets, public, manifest["task_type"], _classes(manifest))


class AnswerKeyError(ProblemsError):
    """Corrected test labels that cannot replace an answer key; each problem names its row
    (header = 1), column or id."""

    subject = "the corrected test labels"


CORRECTED_LABELS_FILE = "test_labels.csv"


def corrected_answer_key(key: AnswerKey, test_labels_csv: bytes, manifest: dict) -> AnswerKey:
    """The same answer key with corrected labels: the same ids, in the same order, with the same
    public/private partition (a partition that moved would change which rows every past
    score was computed on). Raises AnswerKeyError listing every problem: a missing column,
    a duplicate, missing or unknown id, a label outside the classes, a target that is not a
    finite number."""
    name = CORRECTED_LABELS_FILE
    problems = ProblemList()

    def _add(problem: Problem) -> None:
        problems.extend([problem])

    id_column, target_column = manifest["id_column"], manifest["target"]
    try:
        frame = pd.read_csv(io.BytesIO(test_labels_csv), dtype=str, keep_default_na=False, engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnswerKeyError(
            [Problem(f"not a readable CSV file: {str(exc).splitlines()[0]}", file=name)]
        ) from None
    missing = [c for c in (id_column, target_column) if c not in frame.columns]
    for column in missing:
        _add(Problem(f"the header has no column {echo(column)}", file=name, row=1, column=column))
    if missing:
        problems.raise_if_any(AnswerKeyError)
    ids = frame[id_column].astype(str).str.strip()
    duplicated = ids.duplicated(keep="first")
    for row in np.flatnonzero(duplicated.to_numpy()):
        _add(Problem("a duplicate id", file=name, row=int(row) + 2, column=id_column, id=ids.iloc[row]))
    positions = key.positions_of_strings(ids.tolist())
    for row in np.flatnonzero(positions < 0):
        _add(
            Problem(
                "an id that is not in the answer key",
                file=name,
                row=int(row) + 2,
                column=id_column,
                id=ids.iloc[row],
            )
        )
    seen = np.zeros(len(key), dtype=bool)
    seen[positions[positions >= 0]] = True
    for position in np.flatnonzero(~seen):
        _add(Problem("an id of the answer key has no label here", file=name, id=str(key.ids[position])))
    raw = frame[target_column].astype(str).str.strip()
    if key.classes is not None:
        codes = pd.Index(key.classes).get_indexer(raw)
        for row in np.flatnonzero(codes < 0):
            _add(
                Problem(
                    f"the label {echo(raw.iloc[row])} is not one of the classes ({', '.join(key.classes)})",
                    file=name,
                    row=int(row) + 2,
                    column=target_column,
                )
            )
        values = codes.astype(np.int64)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        for row in np.flatnonzero(~np.isfinite(values)):
            _add(
                Problem(
                    f"the target {echo(raw.iloc[row])} is not a finite number",
                    file=name,
                    row=int(row) + 2,
                    column=target_column,
                )
            )
    problems.raise_if_any(AnswerKeyError)
    targets = np.empty_like(key.targets)
    targets[positions] = values
    return AnswerKey(key.ids, targets, key.public.copy(), key.task_type, key.classes)

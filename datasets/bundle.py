"""A dataset version: its files, its manifest, and which files stay hidden.

Both the built-in catalog and admin uploads end here, so a bundle looks the same
whichever way it was made.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MANIFEST_VERSION = 1
PARTICIPANT_FILES = ("train.csv", "test.csv", "sample_submission.csv")
HIDDEN_FILES = ("test_labels.csv",)


@dataclass
class DatasetBundle:
    files: dict[str, bytes]
    manifest: dict
    hidden: set[str] = field(default_factory=lambda: set(HIDDEN_FILES))

    def public_files(self) -> dict[str, bytes]:
        return {name: data for name, data in self.files.items() if name not in self.hidden}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """CSV bytes with '\\n' line ends, so the same rows always give the same sha256."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def file_entries(files: dict[str, bytes], hidden: set[str]) -> dict[str, dict]:
    return {
        name: {"sha256": sha256(data), "size": len(data), "hidden": name in hidden}
        for name, data in sorted(files.items())
    }


def make_manifest(
    *,
    slug: str,
    version: int,
    title: str,
    description: str,
    license: str,
    task_type: str,
    id_column: str,
    target: str,
    features: list[str],
    input_shape: list[int],
    classes: list[str] | None,
    rows: dict[str, int],
    split_seed: int,
    metric: str,
    files: dict[str, bytes],
    hidden: set[str],
    extra: dict | None = None,
) -> dict:
    manifest = {
        "slug": slug,
        "version": version,
        "title": title,
        "description": description,
        "license": license,
        "task_type": task_type,
        "id_column": id_column,
        "target": target,
        "features": list(features),
        "input_shape": list(input_shape),
        "classes": list(classes) if classes is not None else None,
        "rows": dict(rows),
        "split_seed": split_seed,
        "metric": metric,
        "files": file_entries(files, hidden),
    }
    if extra:
        manifest.update(extra)
    return manifest

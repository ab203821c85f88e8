"""What the competition tests check files with (their factories: tests/factories/competitions.py)."""

from __future__ import annotations


def media_files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def hidden_label_lines(dataset) -> list[bytes]:
    """The `id,label` lines of a dataset's hidden test labels."""
    with dataset.files.get(name="test_labels.csv").file.open("rb") as fh:
        return fh.read().splitlines()[1:]

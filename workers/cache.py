"""A content-addressed cache of dataset files on a worker machine.

Files are stored under their sha256, so a dataset is downloaded once per
machine however many entries train on it, and a new dataset version (new
hashes) can never be confused with an old one. Several worker processes share
the folder: a per-file lock makes one of them download while the others wait,
the bytes are hashed while they stream, and a file enters the cache only by an
atomic rename after its hash matched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CacheError(Exception):
    pass


class HashMismatch(CacheError):
    pass


class FileCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256 or ""):
            raise CacheError(f"{sha256!r} is not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @contextmanager
    def _lock(self, sha256: str):
        lock_path = self.root / "locks" / f"{sha256}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def fetch(
        self,
        sha256: str,
        write_to: Callable[[IO[bytes]], None],
        *,
        size: int | None = None,
        label: str = "file",
        tries: int = 2,
    ) -> Path:
        """Return the cached path of the file with this hash, downloading it when missing.

        `write_to(handle)` writes the file's bytes into `handle`. A download whose
        hash or size differs is thrown away (and tried again `tries` times in all).
        """
        final = self.path_for(sha256)
        if final.is_file():
            return final
        with self._lock(sha256):
            if final.is_file():  # another process fetched it while we waited
                return final
            final.parent.mkdir(parents=True, exist_ok=True)
            problem = ""
            for _ in range(max(1, tries)):
                fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{sha256[:12]}.", suffix=".part")
                tmp = Path(tmp_name)
                try:
                    with os.fdopen(fd, "wb") as raw:
                        hashing = _HashingWriter(raw)
                        write_to(hashing)
                        raw.flush()
                        os.fsync(raw.fileno())
                    if hashing.sha256.hexdigest() != sha256 or (size is not None and hashing.size != size):
                        problem = (
                            f"{label}: downloaded {hashing.size} bytes with sha256 {hashing.sha256.hexdigest()[:16]}…, "
                            f"expected {size if size is not None else '?'} bytes with sha256 {sha256[:16]}…"
                        )
                        continue
                    os.replace(tmp, final)
                    return final
                finally:
                    tmp.unlink(missing_ok=True)
            raise HashMismatch(problem)

    def link_dataset(self, files: Iterable[tuple[str, Path]], folder: str | Path) -> Path:
        """Make a folder whose entries `name` point at cached files (what load_arrays reads)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, cached in files:
            if "/" in name or name.startswith("."):
                raise CacheError(f"refusing a dataset file named {name!r}")
            target = folder / name
            target.unlink(missing_ok=True)
            try:
                os.link(cached, target)  # hard link: survives a cache clean-up while training
            except OSError:
                os.symlink(cached, target)
        return folder


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def writable(self) -> bool:
        return True

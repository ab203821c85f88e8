"""The worker's dataset file cache: keyed by sha256, verified, atomic, shared by processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from pathlib import Path

import pytest

from workers.cache import CacheError, FileCache, HashMismatch

DATA = b"id,x,target\n1,0.5,a\n2,0.25,b\n"
SHA = hashlib.sha256(DATA).hexdigest()


def _writer(data: bytes, calls: list | None = None):
    def write(handle):
        if calls is not None:
            calls.append(1)
        handle.write(data[:10])
        handle.write(data[10:])

    return write


def test_a_file_is_downloaded_once_and_served_from_the_cache(tmp_path):
    cache = FileCache(tmp_path / "cache")
    calls: list = []
    first = cache.fetch(SHA, _writer(DATA, calls), size=len(DATA))
    second = cache.fetch(SHA, _writer(DATA, calls), size=len(DATA))
    assert first == second == cache.path_for(SHA)
    assert first.read_bytes() == DATA
    assert len(calls) == 1


def test_a_download_with_the_wrong_hash_never_enters_the_cache(tmp_path):
    cache = FileCache(tmp_path / "cache")
    with pytest.raises(
        HashMismatch, match=r"dataset file iris/train.csv: downloaded 4 bytes .* expected 29 bytes"
    ):
        cache.fetch(SHA, _writer(b"evil"), size=len(DATA), label="dataset file iris/train.csv")
    assert not cache.has(SHA)
    assert not [p for p in (tmp_path / "cache").rglob("*.part")]


def test_a_wrong_size_with_the_right_hash_prefix_is_refused(tmp_path):
    cache = FileCache(tmp_path / "cache")
    with pytest.raises(HashMismatch):
        cache.fetch(SHA, _writer(DATA), size=len(DATA) + 1)
    assert not cache.has(SHA)


def test_a_broken_download_leaves_nothing_behind(tmp_path):
    cache = FileCache(tmp_path / "cache")

    def broken(handle):
        handle.write(DATA[:5])
        raise ConnectionError("connection reset by peer")

    with pytest.raises(ConnectionError):
        cache.fetch(SHA, broken)
    assert not cache.has(SHA)
    assert not [p for p in (tmp_path / "cache").rglob("*.part")]
    # The next try succeeds.
    assert cache.fetch(SHA, _writer(DATA)).read_bytes() == DATA


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "A" * 64, SHA[:-1]])
def test_only_sha256_digests_name_cache_entries(tmp_path, bad):
    with pytest.raises(CacheError, match="is not a sha256 hex digest"):
        FileCache(tmp_path).path_for(bad)


def _fetch_in_process(root: str, counter: str, out: str):
    cache = FileCache(root)

    def slow_write(handle):
        with open(counter, "a") as c:
            c.write("download\n")
        time.sleep(0.3)  # long enough that the other processes arrive while it runs
        handle.write(DATA)

    path = cache.fetch(SHA, slow_write, size=len(DATA))
    Path(out).write_text(str(path))


def test_concurrent_processes_download_once_and_all_get_the_file(tmp_path):
    root, counter = tmp_path / "cache", tmp_path / "downloads.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_fetch_in_process, args=(str(root), str(counter), str(tmp_path / f"out{i}")))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counter.read_text().count("download") == 1
    paths = {(tmp_path / f"out{i}").read_text() for i in range(4)}
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == DATA


def test_link_dataset_names_files_as_the_manifest_does(tmp_path):
    cache = FileCache(tmp_path / "cache")
    cached = cache.fetch(SHA, _writer(DATA))
    folder = cache.link_dataset([("train.csv", cached)], tmp_path / "data")
    assert (folder / "train.csv").read_bytes() == DATA
    with pytest.raises(CacheError, match="refusing a dataset file named '../x'"):
        cache.link_dataset([("../x", cached)], tmp_path / "data")

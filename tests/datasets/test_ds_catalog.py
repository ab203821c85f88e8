"""The built-in catalog: complete manifests, hidden labels kept apart, byte-for-byte determinism."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasets import catalog
from datasets.bundle import sha256
from datasets.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
SLUGS = list(catalog.BUILTINS)
MANIFEST_KEYS = {
    "slug", "version", "title", "description", "license", "task_type", "id_column", "target",
    "features", "input_shape", "classes", "rows", "split_seed", "files", "metric",
}  # fmt: skip


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_catalog_has_the_promised_datasets():
    assert set(SLUGS) >= {
        "digits", "breast-cancer", "wine", "iris", "diabetes", "moons", "hard-classification",
        "waveforms", "digits-0to4", "digits-5to9-fewshot",
    }  # fmt: skip


@pytest.mark.parametrize("slug", SLUGS)
def test_bundle_files_match_the_manifest(slug):
    b = catalog.build(slug)
    m = b.manifest
    assert MANIFEST_KEYS <= set(m)
    assert m["slug"] == slug and m["title"] and m["description"] and m["license"]
    assert set(b.files) == {"train.csv", "test.csv", "sample_submission.csv", "test_labels.csv"}
    assert b.hidden == {"test_labels.csv"}
    assert "test_labels.csv" not in b.public_files()
    for name, data in b.files.items():
        assert m["files"][name] == {"sha256": sha256(data), "size": len(data), "hidden": name in b.hidden}

    metric = METRICS[m["metric"]]
    assert metric.task_type == m["task_type"]
    assert int(np.prod(m["input_shape"])) == len(m["features"])

    train, test, labels = (
        rows(b.files["train.csv"]),
        rows(b.files["test.csv"]),
        rows(b.files["test_labels.csv"]),
    )
    assert train[0] == ["id", *m["features"], m["target"]]
    assert test[0] == ["id", *m["features"]]  # the target never reaches test.csv
    assert labels[0] == ["id", m["target"]]
    assert len(train) - 1 == m["rows"]["train"] and len(test) - 1 == m["rows"]["test"]
    test_ids = [r[0] for r in test[1:]]
    assert test_ids == [r[0] for r in labels[1:]]
    assert not set(test_ids) & {r[0] for r in train[1:]}
    assert len(set(test_ids)) == len(test_ids)
    if m["task_type"] == "classification":
        assert {r[-1] for r in train[1:]} == set(m["classes"])
        assert {r[1] for r in labels[1:]} <= set(m["classes"])
    else:
        assert m["classes"] is None
        float(labels[1][1])
    sample = rows(b.files["sample_submission.csv"])
    expected_header = ["id", *m["classes"]] if metric.needs_proba else ["id", m["target"]]
    assert sample[0] == expected_header and [r[0] for r in sample[1:]] == test_ids


def test_shapes_of_images_series_and_transfer_pair():
    assert catalog.build("digits").manifest["input_shape"] == [1, 8, 8]
    assert catalog.build("digits").manifest["features"][:2] == ["px_0_0", "px_0_1"]
    series = catalog.build("waveforms").manifest
    assert series["input_shape"] == [2, 64] and series["classes"] == ["sine", "square", "sawtooth", "chirp"]
    src = catalog.build("digits-0to4").manifest
    few = catalog.build("digits-5to9-fewshot")
    assert src["classes"] == ["0", "1", "2", "3", "4"]
    assert few.manifest["classes"] == ["5", "6", "7", "8", "9"]
    labels = [r[-1] for r in rows(few.files["train.csv"])[1:]]
    assert {c: labels.count(c) for c in set(labels)} == {c: 10 for c in few.manifest["classes"]}
    assert few.manifest["rows"]["test"] > 800  # the whole rest is the test set
    assert catalog.build("diabetes").manifest["task_type"] == "regression"


def test_build_returns_independent_copies():
    a = catalog.build("iris")
    a.manifest["title"] = "changed"
    a.files["train.csv"] = b""
    b = catalog.build("iris")
    assert b.manifest["title"] != "changed" and b.files["train.csv"]


def test_unknown_slug_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown built-in dataset 'mnist'; known: digits, breast-cancer"):
        catalog.build("mnist")


def test_same_slug_gives_the_same_bytes_in_a_fresh_process():
    here = {slug: catalog.build(slug).manifest["files"] for slug in SLUGS}
    code = (
        "import json; from datasets import catalog; "
        "print(json.dumps({s: catalog.build(s).manifest['files'] for s in catalog.BUILTINS}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(out.stdout) == here

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
from sklearn.datasets import load_digits

from datasets import catalog
from datasets.bundle import sha256
from datasets.images import IMAGE_FILES
from datasets.metrics import METRICS
from datasets.overlap import bundle_duplicates, find_duplicates, matrix_keys, served_files
from datasets.text import TOKEN_FILES, is_text
from datasets.upload import bundle_from_upload

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
        "waveforms", "digits-faded-fewshot", "sentiment-structure",
    }  # fmt: skip


@pytest.mark.parametrize("slug", SLUGS)
def test_bundle_files_match_the_manifest(slug):
    b = catalog.build(slug)
    m = b.manifest
    assert MANIFEST_KEYS <= set(m)
    assert m["slug"] == slug and m["title"] and m["description"] and m["license"]
    # A text set also serves its tokenizer and token arrays; an image set its archives and arrays.
    tokens = {"tokenizer.json", *TOKEN_FILES.values()} if is_text(m) else set()
    images = set(IMAGE_FILES) if m.get("images") else set()
    assert (
        set(b.files)
        == {"train.csv", "test.csv", "sample_submission.csv", "test_labels.csv", *tokens} | images
    )
    assert b.hidden == {"test_labels.csv"}
    assert "test_labels.csv" not in b.public_files()
    for name, data in b.files.items():
        assert m["files"][name] == {"sha256": sha256(data), "size": len(data), "hidden": name in b.hidden}

    metric = METRICS[m["metric"]]
    assert metric.task_type == m["task_type"]
    if is_text(m):
        assert m["input_shape"] == [m["inputs"]["max_length"]] and len(m["features"]) == 1
    elif images:  # the pixels are in the arrays: the CSVs are id,label
        assert m["features"] == [] and len(m["input_shape"]) == 3
    else:
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


def test_shapes_32_is_30000_colour_images_of_ten_balanced_classes():
    from datasets.arrays import load_arrays

    b = catalog.build("shapes-32")
    m = b.manifest
    assert m["input_shape"] == [3, 32, 32] and m["rows"] == {"train": 5000, "test": 25000}
    assert len(m["classes"]) == 10
    arrays = load_arrays(b.files, m, verify=True)
    assert arrays.X_train.dtype == np.uint8 and arrays.X_train.shape == (5000, 3, 32, 32)
    assert np.bincount(arrays.y_train).tolist() == [500] * 10
    # Colour, noise and variety: no two images alike, every channel used.
    flat = np.concatenate([arrays.X_train, arrays.X_test]).reshape(30000, -1)
    assert len({row.tobytes() for row in flat}) == 30000
    assert (arrays.X_train[:100].std(axis=(0, 2, 3)) > 30).all()


def test_shapes_of_images_series_and_transfer_pair():
    assert catalog.build("digits").manifest["input_shape"] == [1, 8, 8]
    assert catalog.build("digits").manifest["features"][:2] == ["px_0_0", "px_0_1"]
    series = catalog.build("waveforms").manifest
    assert series["input_shape"] == [2, 64] and series["classes"] == ["sine", "square", "sawtooth", "chirp"]
    few = catalog.build("digits-faded-fewshot")
    assert (
        few.manifest["classes"] == [str(i) for i in range(10)] == catalog.build("digits").manifest["classes"]
    )
    assert few.manifest["input_shape"] == [1, 8, 8]
    assert few.manifest["transfer"] == {
        "role": "finetune",
        "pair": "digits",
        "train_per_class": 5,
        "shift": "pen one pixel wider, faded ink on grey noisy paper",
    }
    labels = [r[-1] for r in rows(few.files["train.csv"])[1:]]
    assert {c: labels.count(c) for c in set(labels)} == {c: 5 for c in few.manifest["classes"]}
    # The digits sets split one source into disjoint pools (see test_no_hidden_test_row_is_served).
    assert catalog.build("digits").manifest["rows"] == {"train": 1078, "test": 360}
    assert few.manifest["rows"] == {"train": 50, "test": 359}
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


# --- no hidden test row is served ---------------------------------------------------------


def _served_elsewhere(bundles: dict, but: str) -> list:
    return [file for slug, bundle in bundles.items() if slug != but for file in served_files(slug, bundle)]


def test_no_hidden_test_row_is_served():
    """No test row of any built-in dataset (its features, as written or rounded to 6 digits)
    is in its own train.csv or in any downloadable file of another: its hidden label can be
    looked up nowhere. (636 of the 846 test rows of the old transfer target
    digits-5to9-fewshot once were rows of digits' train.csv.)"""
    bundles = {slug: catalog.build(slug) for slug in SLUGS}
    found = {}
    for slug, bundle in bundles.items():
        duplicates = bundle_duplicates(bundle, _served_elsewhere(bundles, but=slug))
        if duplicates.n_rows:
            found[slug] = duplicates.by_file
    assert found == {}


def test_the_clean_digits_behind_the_faded_test_rows_are_served_nowhere():
    """digits-faded-fewshot's test rows are faded copies, which an exact check cannot match
    to a served clean image: the clean originals themselves are in no downloadable file (with
    or without a label), while those of its training rows are in digits' train.csv, as the
    check must see."""
    clean = load_digits().data
    sources = catalog.faded_fewshot_sources()
    served = [file for slug in SLUGS for file in served_files(slug, catalog.build(slug))]
    assert find_duplicates(matrix_keys(clean[sources["test"]]), served).by_file == {}
    found = find_duplicates(matrix_keys(clean[sources["train"]]), served)
    assert found.by_file == {"digits train.csv": 50} and found.n_rows == 50
    # The three parts are disjoint; the design rows (for choosing hyper-parameters) are not the test's.
    parts = [set(v.tolist()) for v in sources.values()]
    assert sum(map(len, parts)) == len(set().union(*parts)) == 50 + 359 + 1028


def test_fading_is_a_real_shift_drawn_the_same_each_time():
    clean = load_digits().data[:200]
    faded = catalog.fade(clean, np.random.default_rng(0))
    assert np.array_equal(faded, catalog.fade(clean, np.random.default_rng(0)))
    assert faded.shape == clean.shape and faded.min() >= 0 and faded.max() <= 16
    assert np.array_equal(faded, np.round(faded))  # whole numbers, as the clean pixels
    paper, strokes = clean == 0, clean >= 12
    # Grey paper (3-6 of 16 plus noise) where the clean image is blank, faded ink on the strokes.
    assert 3 < faded[paper].mean() < 6.5
    # Faded ink: the strokes stand out from the paper by 40-70 % of what they did.
    assert faded[strokes].mean() - faded[paper].mean() < 0.75 * clean[strokes].mean()
    # The pen is wider: pixels right of a stroke are inked.
    right_of_stroke = np.zeros_like(strokes)
    right_of_stroke.reshape(-1, 8, 8)[:, :, 1:] = strokes.reshape(-1, 8, 8)[:, :, :-1]
    right_of_stroke &= paper
    assert faded[right_of_stroke].mean() > faded[paper & ~right_of_stroke].mean() + 3


def _upload(train: bytes, test: bytes):
    return bundle_from_upload(
        train=train, test=test, slug="copy", title="Copy", task_type="classification", target_column="label"
    )


def test_the_check_finds_copies_exact_and_rounded():
    """The walk above proves something only if it sees copies: exact ones, and ones written
    with other precision."""
    digits = catalog.build("digits")
    train = rows(digits.files["train.csv"])
    header = train[0]
    exact = train[1:4]
    # Pixels written as 3.0000001 (rounded to 6 decimals: 3) and 3.0000004e0 (6 significant digits: 3).
    decimals = [[r[0], *(f"{int(v) + 1e-7:.7f}" for v in r[1:-1]), r[-1]] for r in train[4:6]]
    significant = [[r[0], *(f"{int(v) * 1.0000004:.7e}" for v in r[1:-1]), r[-1]] for r in train[6:7]]
    # Rows on no other file (every pixel plus a half), all ten classes.
    fresh = [[f"f{r[0]}", *(f"{int(v) + 0.5}" for v in r[1:-1]), r[-1]] for r in train[7:107]]

    def csv_bytes(body):
        return ("\n".join(",".join(r) for r in [header, *body]) + "\n").encode()

    copy = _upload(csv_bytes(fresh), csv_bytes([*exact, *decimals, *significant, ["t0", *fresh[0][1:]]]))
    duplicates = bundle_duplicates(copy, served_files("digits", digits))
    assert duplicates.n_test == 7 and duplicates.n_rows == 7
    assert duplicates.by_file == {"its own train.csv": 1, "digits train.csv": 6}
    assert duplicates.as_warnings()[1] == {
        "message": "6 of the 7 test rows (whose labels are hidden) are also rows of digits train.csv: "
        "participants can look their labels up there",
        "rows": 6,
        "file": "digits train.csv",
    }
    # A test.csv of another dataset counts too: its rows are that one's hidden test set.
    test_rows = rows(digits.files["test.csv"])[1:3]
    copy = _upload(csv_bytes(fresh), csv_bytes([[*r, "0"] for r in test_rows]))
    assert bundle_duplicates(copy, served_files("digits", digits)).by_file == {"digits test.csv": 2}

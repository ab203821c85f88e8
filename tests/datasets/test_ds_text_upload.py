"""Text uploads: the tokenizer (trained on train texts only), the token arrays and their
manifest entries, and each refusal (file, row, column; nothing produced)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datasets.arrays import load_arrays
from datasets.bundle import sha256
from datasets.text import PAD_ID, read_npy, tokenizer_from_bytes
from datasets.text_upload import bundle_from_text_upload
from datasets.upload import UploadError

WORDS = ["good", "bad", "not", "very", "film", "plot", "the", "was", "fine", "dull"]


def csv_bytes(rows: list[tuple[str, str, str]], header: str = "id,text,label") -> bytes:
    lines = [header] + [f'{i},"{t}",{y}' for i, t, y in rows]
    return ("\n".join(lines) + "\n").encode()


def texts(n: int, start: int = 0, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 9))))
        out.append((str(start + i), words, "pos" if "good" in words else "neg"))
    return out


def upload(train: bytes, test: bytes | None = None, **kw):
    args = {
        "slug": "reviews",
        "title": "Reviews",
        "task_type": "classification",
        "target_column": "label",
        "text_column": "text",
        "vocab_size": 64,
        "max_length": 16,
    }
    args.update(kw)
    return bundle_from_text_upload(train=train, test=test, **args)


def refusal(train: bytes, test: bytes | None = None, **kw) -> list[dict]:
    with pytest.raises(UploadError) as e:
        upload(train, test, **kw)
    return e.value.as_dicts()


def test_bundle_holds_tokenizer_and_arrays_with_their_sha256():
    bundle = upload(csv_bytes(texts(120)), csv_bytes(texts(30, start=1000, seed=1)))
    m = bundle.manifest
    assert m["input_shape"] == [16] and m["features"] == ["text"]
    assert m["inputs"]["kind"] == "tokens" and m["inputs"]["max_length"] == 16
    for name in ("tokenizer.json", "train_tokens.npy", "test_tokens.npy"):
        assert m["files"][name]["sha256"] == sha256(bundle.files[name])
        assert not m["files"][name]["hidden"]
    ids = read_npy(bundle.files["train_tokens.npy"])
    assert ids.shape == (120, 16) and ids.dtype == np.int32
    tokenizer = tokenizer_from_bytes(bundle.files["tokenizer.json"])
    first = tokenizer.encode("the film was not good", add_special_tokens=False).ids
    assert first and PAD_ID not in first
    arrays = load_arrays(bundle.files, m, verify=True)
    assert arrays.X_train.shape == (120, 16) and arrays.X_test.shape == (30, 16)
    np.testing.assert_array_equal(arrays.X_train, ids.astype(np.float32))


def test_same_upload_same_bytes():
    a = upload(csv_bytes(texts(80)))
    b = upload(csv_bytes(texts(80)))
    assert a.files == b.files


def test_tokenizer_is_trained_on_train_texts_only():
    train = csv_bytes(texts(60))
    test = csv_bytes([("900", "zebraword zebraword quixotic", "pos"), ("901", "good film", "pos")])
    bundle = upload(train, test, max_length=64)
    vocab = json.loads(bundle.files["tokenizer.json"])["model"]["vocab"]
    assert not any("zebra" in token or "quixot" in token for token in vocab)
    test_ids = read_npy(bundle.files["test_tokens.npy"])
    assert (test_ids[0] == 1).any()  # unseen characters read as the unknown id


def test_split_from_train_trains_the_tokenizer_on_the_training_split():
    rows = texts(100) + [("500", "xylophone xylophone", "pos")]
    bundle = upload(csv_bytes(rows), test_fraction=0.5, split_seed=3, max_length=64)
    test_texts = bundle.files["test.csv"].decode()
    vocab = json.loads(bundle.files["tokenizer.json"])["model"]["vocab"]
    assert ("xylophone" in test_texts) == (not any("xyl" in t for t in vocab))


def test_non_utf8_text_names_file_row_and_column():
    data = csv_bytes(texts(5)).replace(b'"', b"", 2)
    data = data + b'77,"caf\xe9 was good",pos\n'
    problems = refusal(data)
    assert problems == [{"file": "train.csv", "row": 7, "column": "text", "message": problems[0]["message"]}]
    assert "UTF-8" in problems[0]["message"]


def test_empty_text_is_refused():
    rows = texts(10) + [("50", "  ", "pos")]
    problems = refusal(csv_bytes(rows))
    assert [(p["file"], p["row"], p["column"], p["message"]) for p in problems] == [
        ("train.csv", 12, "text", "the text is empty")
    ]


def test_over_long_text_is_refused_unless_truncation_is_chosen():
    long_text = " ".join(["good film"] * 20)
    rows = texts(30) + [("70", long_text, "pos")]
    test = csv_bytes([("800", long_text, "pos"), ("801", "bad", "neg")])
    problems = refusal(csv_bytes(rows), test)
    assert [(p["file"], p["row"], p["column"]) for p in problems] == [
        ("train.csv", 32, "text"),
        ("test.csv", 2, "text"),
    ]
    assert "more than the maximum length 16" in problems[0]["message"]
    bundle = upload(csv_bytes(rows), test, truncate=True)
    assert bundle.manifest["inputs"]["truncated"] == {"train": 1, "test": 1}
    assert (read_npy(bundle.files["test_tokens.npy"])[0] != PAD_ID).all()


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"vocab_size": 10}, "vocabulary size"),
        ({"max_length": 5000}, "maximum length"),
        ({"text_column": "label"}, "three different columns"),
    ],
)
def test_bad_settings_are_refused(kw, words):
    problems = refusal(csv_bytes(texts(10)), **kw)
    assert any(words in p["message"] for p in problems)


def test_missing_text_column_and_extra_columns_are_named():
    problems = refusal(csv_bytes([("1", "a", "x")], header="id,body,label"))
    assert {p["message"].split(" ")[1] for p in problems} >= {"text"}
    problems = refusal(b"id,text,label,extra\n1,good,pos,3\n")
    assert "remove 'extra'" in problems[0]["message"]


def test_ids_and_labels_are_checked_as_for_every_upload():
    rows = texts(10) + [("3", "good", "pos"), ("60", "bad", "")]
    problems = refusal(csv_bytes(rows))
    messages = [p["message"] for p in problems]
    assert any(m.startswith("duplicate id '3'") for m in messages)
    assert "missing label" in messages

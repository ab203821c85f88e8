"""Text datasets: a subword tokenizer trained on the training texts, and the texts encoded
once into token-id arrays of a declared maximum length.

A text dataset version holds, beside its CSVs (`id,<text>,<label>`), `tokenizer.json` (the
`tokenizers` library's BPE model, trained on train.csv's texts only, never on test.csv's)
and `train_tokens.npy` / `test_tokens.npy` (int32, rows x max_length, padded with PAD_ID at
the end). Their sha256s are in the manifest like every file's, so a worker receives arrays
and caches them by content; it never tokenizes. The manifest's `inputs` says how to read
them: `{"kind": "tokens", "vocab_size", "max_length", "pad_id", "unknown_id", ...}`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

TOKENS_KIND = "tokens"
PAD_ID, UNKNOWN_ID = 0, 1
SPECIAL_TOKENS = ("[PAD]", "[UNK]")  # their ids are PAD_ID and UNKNOWN_ID, in this order
TOKENIZER_FILE = "tokenizer.json"
TOKEN_FILES = {"train": "train_tokens.npy", "test": "test_tokens.npy"}
MIN_VOCAB, MAX_VOCAB = 64, 65536
MIN_LENGTH, MAX_LENGTH = 4, 1024
DEFAULT_VOCAB, DEFAULT_LENGTH = 8000, 128


def train_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-pair-encoding tokenizer learnt from `texts` (NFKC, lower case, words and
    punctuation split first); the same texts give the same tokenizer, byte for byte."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS[UNKNOWN_ID]))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    return tokenizer


def tokenizer_from_bytes(data: bytes):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(data.decode("utf-8"))


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, lengths): int32 ids (rows x max_length, cut at max_length, padded with PAD_ID)
    and each text's token count before any cut (to find over-long rows)."""
    encoded = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(encoded))
    ids = np.full((len(encoded), max_length), PAD_ID, dtype=np.int32)
    for row, e in zip(ids, encoded, strict=True):
        kept = e.ids[:max_length]
        row[: len(kept)] = kept
    return ids, lengths


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def read_npy(data: bytes) -> np.ndarray:
    """An array file as served; pickled objects are refused (allow_pickle=False)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def is_text(manifest: Mapping) -> bool:
    return (manifest.get("inputs") or {}).get("kind") == TOKENS_KIND


@dataclass(frozen=True)
class EncodedText:
    """Both splits' texts encoded by a tokenizer trained on the training texts only."""

    tokenizer_json: bytes
    vocab_size: int
    train_ids: np.ndarray
    train_lengths: np.ndarray
    test_ids: np.ndarray
    test_lengths: np.ndarray


def encode_splits(
    train_texts: Sequence[str], test_texts: Sequence[str], *, vocab_size: int, max_length: int
) -> EncodedText:
    # Trained on the training texts alone: nothing of the test rows (their words, let alone
    # the labels that stay hidden) shapes the vocabulary.
    tokenizer = train_tokenizer(train_texts, vocab_size)
    train_ids, train_lengths = encode_texts(tokenizer, train_texts, max_length)
    test_ids, test_lengths = encode_texts(tokenizer, test_texts, max_length)
    return EncodedText(
        tokenizer_json=tokenizer.to_str().encode("utf-8"),
        vocab_size=tokenizer.get_vocab_size(),
        train_ids=train_ids,
        train_lengths=train_lengths,
        test_ids=test_ids,
        test_lengths=test_lengths,
    )


def token_inputs(encoded: EncodedText, *, text_column: str, max_length: int) -> dict:
    """The manifest's `inputs` of a text dataset."""
    return {
        "kind": TOKENS_KIND,
        "text_column": text_column,
        "vocab_size": encoded.vocab_size,
        "max_length": max_length,
        "pad_id": PAD_ID,
        "unknown_id": UNKNOWN_ID,
        "tokenizer": TOKENIZER_FILE,
        "arrays": dict(TOKEN_FILES),
        "truncated": {
            "train": int((encoded.train_lengths > max_length).sum()),
            "test": int((encoded.test_lengths > max_length).sum()),
        },
    }


def token_files(encoded: EncodedText) -> dict[str, bytes]:
    return {
        TOKENIZER_FILE: encoded.tokenizer_json,
        TOKEN_FILES["train"]: npy_bytes(encoded.train_ids),
        TOKEN_FILES["test"]: npy_bytes(encoded.test_ids),
    }


def token_arrays(read: Callable[[str], bytes], manifest: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """(X_train, X_test) of a text dataset: its token arrays as float32 (ids below 2**24 are
    exact), checked against the manifest's length and vocabulary."""
    inputs = manifest["inputs"]
    out = []
    for split in ("train", "test"):
        name = inputs["arrays"][split]
        ids = read_npy(read(name))
        rows = manifest["rows"][split]
        if (
            ids.ndim != 2
            or ids.shape != (rows, inputs["max_length"])
            or not np.issubdtype(ids.dtype, np.integer)
        ):
            raise ValueError(
                f"{name} holds {ids.dtype} {list(ids.shape)}, the manifest wants integers "
                f"[{rows}, {inputs['max_length']}]"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= inputs["vocab_size"]):
            raise ValueError(f"{name} holds token ids outside the vocabulary of {inputs['vocab_size']}")
        out.append(ids.astype(np.float32))
    return out[0], out[1]

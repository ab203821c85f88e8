"""The built-in text benchmark: unique sentences, balanced classes, labels that word order
decides (a bag of words sees the same words in both classes), the same bytes every time."""

from __future__ import annotations

from collections import Counter

from datasets import textgen
from datasets.catalog import build
from datasets.text import read_npy


def test_sentences_are_unique_balanced_and_plenty():
    data = textgen.make_sentiment_structure()
    texts = [*data["train"][1], *data["test"][1]]
    assert len(texts) == len(set(texts)) >= 20_000
    labels = Counter([*data["train"][2], *data["test"][2]])
    assert abs(labels["positive"] - labels["negative"]) < 0.05 * len(texts)


def test_words_tell_almost_nothing_about_the_label():
    """Every sentiment word, negation and connective is about as frequent in both classes."""
    data = textgen.make_sentiment_structure()
    counts = {label: Counter() for label in textgen.CLASSES}
    for text, label in zip(data["train"][1], data["train"][2], strict=True):
        counts[label].update(text.split())
    for word in [*textgen.POSITIVE, *textgen.NEGATIVE, *textgen.NEGATIONS, "but", "although"]:
        pos, neg = counts["positive"][word], counts["negative"][word]
        assert abs(pos - neg) <= 0.1 * (pos + neg), (word, pos, neg)


def test_catalog_entry_is_tokenized_with_the_declared_length():
    bundle = build("sentiment-structure")
    inputs = bundle.manifest["inputs"]
    assert inputs["truncated"] == {"train": 0, "test": 0}
    assert read_npy(bundle.files["train_tokens.npy"]).shape == (
        bundle.manifest["rows"]["train"],
        textgen.MAX_LENGTH,
    )

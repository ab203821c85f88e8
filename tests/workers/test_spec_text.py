"""Configs against a text dataset's manifest: they must start with `embedding`, and the
parameter budget counts the embedding's vocabulary table."""

from __future__ import annotations

from common.protocol import Budget
from datasets.catalog import build
from workers.spec import parse_config, validate_for_dataset


def config(*layers: str):
    return parse_config("version: 1\nmodel:\n  layers:\n" + "".join(f"    - {x}\n" for x in layers))


MANIFEST = build("sentiment-structure").manifest


def test_a_text_config_must_start_with_embedding():
    problems = validate_for_dataset(config("lstm: 8", "linear: auto"), MANIFEST)
    assert [(p.path, p.message) for p in problems] == [
        (
            "model.layers[0]",
            "dataset 'sentiment-structure' is text (token ids): start with embedding: {dim: 64}",
        )
    ]
    assert validate_for_dataset(config("embedding: 8", "lstm: 8", "linear: auto"), MANIFEST) == []


def test_the_budget_counts_the_vocabulary_table():
    vocab = MANIFEST["inputs"]["vocab_size"]
    problems = validate_for_dataset(
        config("embedding: 100", "global_avg_pool", "linear: auto"),
        MANIFEST,
        budget=Budget(params=vocab * 100),
    )
    assert [p.path for p in problems] == ["model"]  # the table alone fills the budget; the head exceeds it
    assert f"{vocab * 100 + 202:,} parameters" in problems[0].message

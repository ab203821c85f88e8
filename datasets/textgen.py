"""The built-in text benchmark `sentiment-structure`: reviews whose label only word order
and sentence structure decide, generated offline from a fixed seed.

Every review joins two clauses of opposite or equal feeling, each a subject, an optional
negation and a positive or negative word, under one structure that decides which clause
counts: "A but B" (B), "although A, B" (B), "A, although B" (A), "A and what is more B"
(both agree), "it is not true that A" (the opposite of A), "i doubt that A, but B" (B),
"everyone says A, yet i found B" (B). Positive and negative words, negations and
connectives occur about equally often in both classes, so a bag of words sees nearly
the same counts whatever the label; a model that reads in order can find which clause
governs and whether a "not" falls in its scope. Sentences are unique, so no test review
is also a training review.
"""

from __future__ import annotations

import numpy as np

SEED = 2014
N_SENTENCES = 24_000
TEST_FRACTION = 0.25
CLASSES = ["negative", "positive"]
VOCAB_SIZE, MAX_LENGTH = 400, 32  # the longest review has 25 words

SUBJECTS = [
    "the plot",
    "the acting",
    "the music",
    "the ending",
    "the script",
    "the camera work",
    "the cast",
    "the pacing",
    "the dialogue",
    "the story",
    "the director's choice",
    "the soundtrack",
    "the finale",
    "the lead actor",
    "the villain",
    "the humour",
    "the set design",
    "the premise",
]
POSITIVE = [
    "good",
    "great",
    "wonderful",
    "brilliant",
    "moving",
    "clever",
    "charming",
    "superb",
    "fun",
    "gripping",
]
NEGATIVE = ["bad", "awful", "boring", "dull", "clumsy", "weak", "tedious", "messy", "bland", "silly"]
INTENSIFIERS = ["", "", "very ", "really ", "quite ", "rather ", "truly "]
VERBS = ["was", "is", "seemed", "felt"]
NEGATIONS = ["not", "never", "hardly"]
FILLERS = ["", "", "honestly , ", "to be fair , ", "in the end , ", "frankly , "]


def _clause(rng: np.random.Generator, polarity: int) -> str:
    """A clause meaning `polarity` (1 positive, 0 negative): half the time a negated word
    of the opposite feeling."""
    negated = rng.random() < 0.5
    word_positive = polarity ^ negated
    words = POSITIVE if word_positive else NEGATIVE
    neg = f"{NEGATIONS[rng.integers(len(NEGATIONS))]} " if negated else ""
    return (
        f"{SUBJECTS[rng.integers(len(SUBJECTS))]} {VERBS[rng.integers(len(VERBS))]} "
        f"{neg}{INTENSIFIERS[rng.integers(len(INTENSIFIERS))]}{words[rng.integers(len(words))]}"
    )


def _review(rng: np.random.Generator) -> tuple[str, int]:
    label = int(rng.integers(2))
    other = 1 - label
    filler = FILLERS[rng.integers(len(FILLERS))]
    kind = int(rng.integers(7))
    if kind == 0:
        text = f"{_clause(rng, other)} but {_clause(rng, label)}"
    elif kind == 1:
        text = f"although {_clause(rng, other)} , {_clause(rng, label)}"
    elif kind == 2:
        text = f"{_clause(rng, label)} , although {_clause(rng, other)}"
    elif kind == 3:
        text = f"{_clause(rng, label)} and what is more {_clause(rng, label)}"
    elif kind == 4:
        text = f"it is not true that {_clause(rng, other)}"
    elif kind == 5:
        text = f"i doubt that {_clause(rng, label)} , but {_clause(rng, label)}"
    else:
        text = f"everyone says {_clause(rng, other)} , yet i found that {_clause(rng, label)}"
    return filler + text, label


def make_sentiment_structure() -> dict:
    """{train, test: (ids, texts, labels)} and the classes; unique texts, seeded split."""
    rng = np.random.default_rng(SEED)
    seen: dict[str, int] = {}
    while len(seen) < N_SENTENCES:
        text, label = _review(rng)
        seen.setdefault(text, label)
    texts = np.array(list(seen), dtype=object)
    labels = np.array([CLASSES[seen[t]] for t in texts], dtype=object)
    order = np.random.default_rng(SEED + 1).permutation(len(texts))
    n_test = int(round(TEST_FRACTION * len(texts)))
    test, train = order[:n_test], order[n_test:]
    ids = np.array([str(i) for i in range(len(texts))], dtype=object)
    return {
        "train": (ids[: len(train)], texts[train], labels[train]),
        "test": (ids[len(train) :], texts[test], labels[test]),
        "classes": CLASSES,
        "seed": SEED,
    }

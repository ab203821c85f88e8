"""The trainer's defects found by training as a practitioner would (issue 14, part 7),
each with the run that showed it: exploding losses reported as completed, a diverged
run thrown away after early stopping kept a good epoch, weights files that differ
between identical runs, the worker's thread count, bf16 on a CPU."""

from __future__ import annotations

import collections
import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from workers import training as trainer
from workers.data import TrainData, load_dataset
from workers.spec import parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small(digits):
    return TrainData(
        X_train=digits.X_train[:400],
        y_train=digits.y_train[:400],
        X_test=digits.X_test[:100],
        test_ids=digits.test_ids[:100],
        manifest=digits.manifest,
        slug="digits",
    )


def digits_cnn(**replace: str):
    text = (EXAMPLES / "digits_cnn.yaml").read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return parse_config(text)


# --------------------------------------------------------------------------- weights file


def test_two_identical_runs_write_the_same_weights_file_byte_for_byte(small, tmp_path):
    config = digits_cnn(**{"epochs: 30": "epochs: 1"})
    hashes = []
    for run in range(3):
        out = tmp_path / str(run)
        result = trainer.train(config, small, out_dir=out)
        hashes.append(hashlib.sha256(result.weights_path.read_bytes()).hexdigest())
    assert len(set(hashes)) == 1
    # Still a safetensors file the library reads, with every tensor.
    assert load_file(str(tmp_path / "0" / "weights.safetensors")).keys() == result.state_dict.keys()

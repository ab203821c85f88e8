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


# --------------------------------------------------------------------------- divergence


def test_a_loss_that_explodes_without_becoming_nan_fails_the_run_with_what_to_try(small):
    """The digits CNN with SGD at lr 10: epoch 1's batch losses reach ~10^8, then every ReLU
    is dead, the loss sits at chance and every row gets one class. It used to be `completed`."""
    config = digits_cnn(**{"epochs: 30": "epochs: 3", "{name: adam, lr: 0.003}": "{name: sgd, lr: 10.0}"})
    with pytest.raises(trainer.TrainError) as caught:
        trainer.train(config, small)
    message = str(caught.value)
    assert message.startswith("training diverged at epoch 1 (train): a batch loss reached ")
    assert "a lower learning rate (optimizer.lr is 10 with sgd)" in message
    assert "gradient clipping (optimizer.grad_clip: 1.0)" in message
    assert "batchnorm layers" in message


def test_the_diverged_epoch_is_reported_before_the_run_fails(small):
    epochs = []
    config = digits_cnn(**{"epochs: 30": "epochs: 3", "{name: adam, lr: 0.003}": "{name: sgd, lr: 10.0}"})
    with pytest.raises(trainer.TrainError, match="training diverged"):
        trainer.train(config, small, on_epoch=epochs.append)
    assert [e["epoch"] for e in epochs] == [1]
    assert epochs[0]["train_loss"] > 1000 and epochs[0]["val_metric"] is None


def test_hints_leave_out_what_the_config_already_does(small):
    config = parse_config(
        """
version: 1
model:
  layers: [linear: 64, batchnorm, relu, linear: auto]
train:
  epochs: 2
  optimizer: {name: momentum, lr: 10.0, grad_clip: 1000.0}
  scheduler: {name: warmup_cosine, warmup_epochs: 1}
"""
    )
    with pytest.raises(trainer.TrainError) as caught:
        trainer.train(config, small)
    message = str(caught.value)
    assert message.endswith("; try a lower learning rate (optimizer.lr is 10 with momentum)")
    assert "grad_clip" not in message and "batchnorm" not in message and "warm-up" not in message


LATE_DIVERGENCE = """
version: 1
model:
  init: he_normal
  layers: [linear: 64, relu, linear: 64, relu, linear: auto]
train:
  epochs: 40
  batch_size: 32
  optimizer: {name: sgd, lr: 10.0}
  scheduler: {name: warmup_cosine, warmup_epochs: 30}
  validation_fraction: 0.2
  early_stopping: {patience: 5}
"""


def test_a_run_that_diverges_after_early_stopping_kept_a_good_epoch_predicts_from_it(small, tmp_path):
    """The rate climbs 0.33 per epoch: epochs 1-2 learn, then the loss explodes. The run used
    to fail with no predictions; now it predicts from the best epoch and says it stopped early."""
    result = trainer.train(parse_config(LATE_DIVERGENCE), small, out_dir=tmp_path)
    assert result.stopped_reason == trainer.DIVERGED
    assert result.best_epoch is not None and result.best_epoch < result.epochs_run
    assert result.stop_message.startswith(f"training diverged at epoch {result.epochs_run} (train)")
    assert (
        f"Training stopped early: the predictions come from epoch {result.best_epoch}" in result.stop_message
    )
    best = result.history[result.best_epoch - 1]
    assert result.val_metric == best["val_metric"] and best["val_metric"]["value"] > 0.5
    assert result.predictions is not None and len(collections.Counter(result.predictions)) > 3
    assert result.weights_path is not None
    # The predictions are the best epoch's model's: its weights give its validation loss back.
    assert all(torch.isfinite(t).all() for t in result.state_dict.values())

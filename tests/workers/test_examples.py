"""Every example config trains (epochs cut here, never in the files), the
vanishing-gradient pair shows what it claims, pre-training + LoRA fine-tuning
runs end to end, and (slow) the quality bars hold with the examples' own settings.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from datasets.answer_key import make_answer_key
from datasets.catalog import build as build_bundle
from datasets.predictions import parse_predictions
from workers import local
from workers import training as trainer
from workers.data import load_dataset
from workers.spec import parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def dataset_of(name: str) -> str:
    """Each example names its dataset in its header comment: `(dataset: digits)`."""
    m = re.search(r"^#.*\(dataset: ([a-z0-9-]+)\)", (EXAMPLES / name).read_text(encoding="utf-8"), re.M)
    assert m, f"{name}: the header comment must name the dataset, e.g. (dataset: digits)"
    return m.group(1)


def cut(name: str, epochs: int):
    return local.with_epochs(parse_config((EXAMPLES / name).read_text(encoding="utf-8")), epochs)


_DATA: dict[str, object] = {}


def data(slug: str):
    if slug not in _DATA:
        _DATA[slug] = load_dataset(slug, with_test_labels=True)
    return _DATA[slug]


def test_there_is_one_example_per_technique_family():
    assert FILES == [
        "breast_cancer_mlp.yaml",
        "conv1d_waveforms.yaml",
        "deep_relu_bn_mlp.yaml",
        "deep_residual_mlp.yaml",
        "deep_sigmoid_mlp.yaml",
        "diabetes_regression.yaml",
        "digits_cnn.yaml",
        "lstm_waveforms.yaml",
        "pretrain_lora_digits.yaml",
        "residual_cnn.yaml",
        "separable_cnn.yaml",
        "shapes_cnn_augment.yaml",
        "text_lstm.yaml",
        "text_transformer.yaml",
        "transformer_digits.yaml",
    ]


@pytest.mark.parametrize("name", FILES)
def test_example_is_documented_and_trains(name):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    comment = [line for line in text.splitlines() if line.startswith("#")]
    assert len(comment) >= 2 and "Demonstrates" in " ".join(comment), f"{name}: say what it demonstrates"
    slug = dataset_of(name)
    full = parse_config(text)
    assert full.train.epochs >= 15  # the file keeps its real settings; only this test cuts them
    d = data(slug)
    result = trainer.train(cut(name, 2), d)
    assert result.stopped_reason == trainer.COMPLETED, result.stop_message
    phases = 2 if full.pretrain is not None else 1
    assert result.epochs_run == 2 * phases
    assert all(math.isfinite(h["train_loss"]) and h["grad_norms"] for h in result.history)
    assert len(result.predictions) == len(d.test_ids)
    # The predictions file is one the platform's scorer accepts.
    bundle = build_bundle(slug)
    key = make_answer_key(bundle.files["test_labels.csv"], bundle.manifest, seed=0, public_fraction=0.5)
    parsed = parse_predictions(
        trainer.predictions_csv(result, d.manifest),
        answer_key=key,
        manifest=bundle.manifest,
        metric=result.metric,
    )
    assert parsed.values.shape[0] == len(d.test_ids)


def _linear_norms(rec: dict) -> list[float]:
    return [v for k, v in rec["grad_norms"].items() if k.endswith(".linear")]


def test_deep_sigmoid_mlp_gradients_vanish_and_relu_he_batchnorm_ones_do_not():
    d = data("digits")
    sigmoid = trainer.train(cut("deep_sigmoid_mlp.yaml", 2), d)
    relu = trainer.train(cut("deep_relu_bn_mlp.yaml", 2), d)
    for rec in sigmoid.history:
        norms = _linear_norms(rec)
        assert len(norms) == 11
        # The first layer's gradient is orders of magnitude (here > 3) below the last layer's.
        assert norms[0] < 1e-3 * norms[-1], norms
        # ...and it shrinks layer after layer on the way back.
        assert all(a < b for a, b in zip(norms, norms[1:], strict=False)), norms
    for rec in relu.history:
        norms = _linear_norms(rec)
        assert len(norms) == 11
        assert 0.1 < norms[0] / norms[-1] < 10, norms
        assert max(norms) / min(norms) < 10, norms


def test_pretrain_then_lora_finetune_runs_and_merges_the_adapters():
    d = data("digits-faded-fewshot")
    config = cut("pretrain_lora_digits.yaml", 2)
    result = trainer.train(config, d)
    assert [h["phase"] for h in result.history] == ["pretrain", "pretrain", "train", "train"]
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    pre, ft = result.history[1], result.history[2]
    assert pre["val_metric"]["value"] > 0.5  # the clean digits learnt in two epochs
    # While fine-tuning, the adapters of every conv2d and linear train (the head is kept: the
    # target has the source's ten classes).
    assert set(ft["grad_norms"]) == {
        "layers.0.conv2d",
        "layers.3.conv2d",
        "layers.8.linear",
        "layers.10.linear",
    }
    # LoRA trains a small fraction of the network.
    assert 0 < result.n_trainable < 0.25 * result.n_parameters
    # The saved weights are merged: plain layers, no adapter tensors.
    assert not [k for k in result.state_dict if "lora" in k or ".base." in k]
    assert result.state_dict["layers.10.linear.weight"].shape == (10, 64)
    assert set(result.predictions) <= set(d.classes)


@pytest.mark.parametrize(
    ("finetune", "trained_layers"),
    [
        ("finetune: {mode: head}", {"layers.10.linear"}),
        (
            "finetune: {mode: full}",
            {
                "layers.0.conv2d",
                "layers.1.batchnorm",
                "layers.3.conv2d",
                "layers.4.batchnorm",
                "layers.8.linear",
                "layers.10.linear",
            },
        ),
        (
            "finetune: {mode: full, freeze: [0, 1]}",
            {"layers.3.conv2d", "layers.4.batchnorm", "layers.8.linear", "layers.10.linear"},
        ),
    ],
)
def test_head_only_full_and_partly_frozen_finetuning(finetune, trained_layers):
    text = (EXAMPLES / "pretrain_lora_digits.yaml").read_text(encoding="utf-8")
    text = text[: text.index("finetune:")] + finetune + "\n"
    config = local.with_epochs(parse_config(text), 1)
    result = trainer.train(config, data("digits-faded-fewshot"))
    assert [h["phase"] for h in result.history] == ["pretrain", "train"]
    assert set(result.history[-1]["grad_norms"]) == trained_layers
    if finetune.endswith("head}"):
        assert result.n_trainable == 64 * 10 + 10  # the head alone (kept: the same ten classes)
    if finetune.endswith("full}"):
        assert result.n_trainable == result.n_parameters


@pytest.mark.slow
def test_quality_bars_with_the_examples_own_settings(tmp_path):
    """Measured with the local runner (what docs/techniques.md records)."""
    cnn = local.run_local(EXAMPLES / "digits_cnn.yaml", "digits", out_dir=tmp_path / "cnn", progress=False)
    assert cnn["epochs_run"] == 30
    assert cnn["test_metrics"]["accuracy"] >= 0.98
    mlp = local.run_local(
        EXAMPLES / "breast_cancer_mlp.yaml", "breast-cancer", out_dir=tmp_path / "mlp", progress=False
    )
    assert mlp["test_metrics"]["accuracy"] >= 0.95


@pytest.mark.slow
def test_pretraining_and_lora_beat_the_same_network_from_scratch_on_the_faded_digits():
    """The transfer pair's claim at seed 0 with the example's own settings (about 15 s;
    bench/transfer_benchmark.py measures it over five seeds: 0.796 against 0.642)."""
    few = data("digits-faded-fewshot")
    labels = np.asarray(few.test_labels, dtype=str)
    config = parse_config((EXAMPLES / "pretrain_lora_digits.yaml").read_text(encoding="utf-8"))
    lora = trainer.train(config, few)
    scratch = trainer.train(config.model_copy(update={"pretrain": None, "finetune": None}), few)
    lora_acc = float((np.asarray(lora.predictions, dtype=str) == labels).mean())
    scratch_acc = float((np.asarray(scratch.predictions, dtype=str) == labels).mean())
    assert lora_acc >= 0.75 and lora_acc >= scratch_acc + 0.08, (lora_acc, scratch_acc)
    # The same network; LoRA trains under a tenth of it.
    assert lora.n_parameters == scratch.n_parameters == scratch.n_trainable
    assert lora.n_trainable < 0.1 * lora.n_parameters

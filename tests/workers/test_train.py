"""The training loop: determinism, the epoch report and its gradient norms,
budget / cancel / early stops, outputs (predictions CSV, safetensors), the
local runner, and bad input.

CPU, one thread, small slices of the catalog's data and a few epochs; the
examples' own settings are exercised in test_examples.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from common.protocol import Budget
from datasets.answer_key import make_answer_key
from datasets.catalog import build as build_bundle
from datasets.predictions import parse_predictions
from datasets.scoring import score
from workers import local
from workers import training as trainer
from workers.build import build_model, layer_names
from workers.data import DataError, Standardizer, TrainData, load_dataset, stratified_split
from workers.spec import ConfigError, load_config, parse_config

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
    """400 training rows of digits (every class present), 100 test rows."""
    return TrainData(
        X_train=digits.X_train[:400],
        y_train=digits.y_train[:400],
        X_test=digits.X_test[:100],
        test_ids=digits.test_ids[:100],
        manifest=digits.manifest,
        slug="digits",
    )


MLP = """
version: 1
seed: {seed}
model:
  init: he_normal
  layers:
    - linear: {{units: 32}}
    - activation: relu
    - {dropout}
    - linear: {{units: auto}}
train:
  epochs: {epochs}
  batch_size: {batch_size}
  optimizer: {{name: {opt}, lr: {lr}}}
  scheduler: {{name: {sched}}}
  validation_fraction: 0.2
{extra}
"""


def mlp(epochs=3, seed=0, lr=0.01, opt="adam", sched="cosine", batch_size=32, dropout=True, extra=""):
    return parse_config(
        MLP.format(
            epochs=epochs,
            seed=seed,
            lr=lr,
            opt=opt,
            sched=sched,
            batch_size=batch_size,
            dropout="dropout: {p: 0.1}" if dropout else "activation: relu",
            extra=extra,
        )
    )


def example(name: str, epochs: int):
    return local.with_epochs(parse_config((EXAMPLES / name).read_text(encoding="utf-8")), epochs)


def with_train(config, **updates):
    """The config with some train settings changed (a mapping updates a section),
    validated again by the whole schema: never a config a submission could not be."""
    data = config.model_dump(mode="json")
    for key, value in updates.items():
        if isinstance(value, dict):
            data["train"][key].update(value)
        else:
            data["train"][key] = value
    return load_config(data)


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_device_gives_bit_identical_predictions(small):
    # Dropout, shuffling, the validation split and the init all draw random numbers.
    config = example("digits_cnn.yaml", epochs=2)
    a = trainer.train(config, small)
    b = trainer.train(config, small)
    assert a.probabilities.tobytes() == b.probabilities.tobytes()
    assert list(a.predictions) == list(b.predictions)
    assert a.state_dict.keys() == b.state_dict.keys()
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


def test_another_seed_gives_another_model(small):
    a = trainer.train(mlp(epochs=1, seed=0), small)
    b = trainer.train(mlp(epochs=1, seed=1), small)
    assert not np.array_equal(a.probabilities, b.probabilities)


def test_the_run_leaves_the_callers_determinism_settings_alone(small):
    assert not torch.are_deterministic_algorithms_enabled()
    trainer.train(mlp(epochs=1), small)
    assert not torch.are_deterministic_algorithms_enabled()


# --------------------------------------------------------------------------- the epoch report


def test_epoch_report_has_losses_metric_lr_seconds_and_a_grad_norm_per_layer(small):
    seen = []
    result = trainer.train(example("digits_cnn.yaml", epochs=2), small, on_epoch=seen.append)
    assert [r["epoch"] for r in seen] == [1, 2]
    assert seen == result.history
    rec = seen[0]
    assert {"epoch", "train_loss", "val_loss", "val_metric", "lr", "seconds", "grad_norms"} <= set(rec)
    assert rec["val_metric"]["name"] == "accuracy" and 0.0 <= rec["val_metric"]["value"] <= 1.0
    assert math.isfinite(rec["train_loss"]) and math.isfinite(rec["val_loss"]) and rec["seconds"] > 0
    assert seen[1]["lr"] < seen[0]["lr"]  # cosine schedule
    # Every layer with parameters, by its config path: conv2d, conv2d, linear, linear.
    assert list(rec["grad_norms"]) == [
        "layers.0.conv2d",
        "layers.2.conv2d",
        "layers.7.linear",
        "layers.9.linear",
    ]
    assert all(v > 0 and math.isfinite(v) for v in rec["grad_norms"].values())
    assert json.loads(json.dumps(rec)) == rec  # the pipeline posts it as JSON


def test_grad_norms_are_each_layers_gradient_norm_averaged_over_the_epochs_batches(small):
    """The on-device accumulation equals the definition, computed by hand with a
    plain loop over the same batches: per batch, the L2 norm of all of a layer's
    gradients; then the mean over the epoch's batches."""
    seed, bs, lr = 3, 48, 0.05
    config = mlp(epochs=2, seed=seed, lr=lr, opt="sgd", sched="constant", batch_size=bs, dropout=False)
    result = trainer.train(config, small)

    y = small.target_indices()
    rows, _ = stratified_split(y, 0.2, seed, stratify=True)
    X = torch.as_tensor(Standardizer.fit(small.X_train[rows]).apply(small.X_train[rows]))
    Y = torch.as_tensor(y[rows])
    model = build_model(config, small.input_shape, small.n_outputs)
    layer_of = layer_names(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)  # the training phase shuffles with seed + 1
    n = X.shape[0]
    steps = n // bs + (1 if n % bs >= 2 else 0)
    for epoch in range(2):
        perm = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            sq: dict[str, float] = {}
            for name, p in model.named_parameters():
                sq[layer_of[name]] = sq.get(layer_of[name], 0.0) + float(p.grad.pow(2).sum())
            for layer, v in sq.items():
                sums[layer] = sums.get(layer, 0.0) + math.sqrt(v)
            opt.step()
        expected = {layer: v / steps for layer, v in sums.items()}
        got = result.history[epoch]["grad_norms"]
        assert got.keys() == expected.keys()
        for layer in expected:
            assert got[layer] == pytest.approx(expected[layer], rel=1e-4), (epoch, layer)


def test_gradient_clipping_bounds_the_update(small):
    """One SGD step (the batch is the whole training split) with lr 1 and
    grad_clip 1e-3 moves the weights by exactly 1e-3 in global L2 norm."""
    config = mlp(epochs=1, lr=1.0, opt="sgd", sched="constant", batch_size=320, dropout=False)
    config = with_train(config, optimizer={"grad_clip": 1e-3})
    assert config.train.optimizer.grad_clip == 1e-3
    result = trainer.train(config, small)
    before = build_model(config, small.input_shape, small.n_outputs).state_dict()
    moved = math.sqrt(sum(float((result.state_dict[k] - v).pow(2).sum()) for k, v in before.items()))
    assert moved == pytest.approx(1e-3, rel=1e-3)
    assert result.history[0]["grad_norms"]["layers.0.linear"] > 1e-2  # reported before clipping


# --------------------------------------------------------------------------- stops


def test_epoch_budget_stops_the_run_with_a_reason(small):
    result = trainer.train(mlp(epochs=5), small, budget=Budget(epochs=2))
    assert result.stopped_reason == trainer.BUDGET_EPOCHS
    assert result.epochs_run == 2 and len(result.history) == 2
    assert "the budget allows 2" in result.stop_message
    assert result.predictions is not None and len(result.predictions) == 100


def test_wall_clock_budget_is_checked_during_the_epoch(small):
    # Batches of one row: the first epoch (320 steps) takes far longer than the budget.
    config = example("digits_cnn.yaml", epochs=50)
    config = with_train(config, batch_size=1)
    result = trainer.train(config, small, budget=Budget(seconds=0.05))
    assert result.stopped_reason == trainer.BUDGET_SECONDS
    assert "budget allows 0.05 s" in result.stop_message
    # Stopped inside epoch 1, which is reported and marked partial.
    assert result.epochs_run == 1 and result.history[0]["partial"] is True
    assert result.history[0]["seconds"] < 2.0  # a few batches past the deadline at most, plus validation
    assert result.predictions is not None


def test_budget_with_pretraining_caps_each_phase_and_a_clock_stop_in_pretraining_gives_no_model():
    few = load_dataset("digits-faded-fewshot")
    config = example("pretrain_lora_digits.yaml", epochs=3)
    capped = trainer.train(config, few, budget=Budget(epochs=1))
    assert [h["phase"] for h in capped.history] == ["pretrain", "train"]
    assert capped.stopped_reason == trainer.BUDGET_EPOCHS
    assert capped.predictions is not None and set(capped.predictions) <= set(few.classes)

    timed_out = trainer.train(config, few, budget=Budget(seconds=0.01))
    assert timed_out.stopped_reason == trainer.BUDGET_SECONDS
    assert {h["phase"] for h in timed_out.history} == {"pretrain"}
    assert timed_out.predictions is None
    with pytest.raises(
        trainer.TrainError, match="during pre-training, so there is no model for this dataset"
    ):
        trainer.predictions_csv(timed_out, few.manifest)


def test_parameter_budget_refuses_before_building(small):
    with pytest.raises(trainer.BudgetExceeded) as exc:
        trainer.train(mlp(), small, budget=Budget(params=1000))
    assert exc.value.reason == trainer.BUDGET_PARAMETERS
    # 64*32+32 + 32*10+10 = 2,410 parameters
    assert str(exc.value) == "the model has 2,410 parameters; the budget allows 1,000"


def test_should_stop_cancels_with_no_predictions(small):
    seen: list[dict] = []
    # Says stop once one epoch is reported; polled at every epoch end (and every 2 s within one).
    result = trainer.train(mlp(epochs=10), small, on_epoch=seen.append, should_stop=lambda: len(seen) >= 1)
    assert result.stopped_reason == trainer.CANCELLED
    assert result.epochs_run == 1
    assert result.predictions is None
    with pytest.raises(trainer.TrainError, match="no predictions: cancelled while training"):
        trainer.predictions_csv(result, small.manifest)


def test_early_stopping_stops_and_keeps_the_best_epochs_weights(small):
    config = mlp(epochs=200, lr=0.05, extra="  early_stopping: {patience: 3}")
    result = trainer.train(config, small)
    assert result.stopped_reason == trainer.EARLY_STOPPING
    assert result.epochs_run < 200
    losses = [h["val_loss"] for h in result.history]
    best = int(np.argmin(losses)) + 1
    assert result.best_epoch == best == result.epochs_run - 3
    assert f"best at epoch {best}" in result.stop_message
    assert result.val_metric == result.history[best - 1]["val_metric"]
    # The returned weights are the best epoch's: they give its validation loss again.
    y = small.target_indices()
    rows, val = stratified_split(y, 0.2, 0, stratify=True)
    std = Standardizer.fit(small.X_train[rows])
    model = build_model(config, small.input_shape, small.n_outputs)
    model.load_state_dict(result.state_dict)
    with torch.no_grad():
        val_loss = F.cross_entropy(
            model.eval()(torch.as_tensor(std.apply(small.X_train[val]))), torch.as_tensor(y[val])
        )
    assert float(val_loss) == pytest.approx(losses[best - 1], rel=1e-5)


# --------------------------------------------------------------------------- outputs


def _scored(csv_bytes: bytes, slug: str, metric: str) -> tuple[float, float]:
    """Through the real scorer: parse against the answer key, score both splits."""
    bundle = build_bundle(slug)
    key = make_answer_key(bundle.files["test_labels.csv"], bundle.manifest, seed=0, public_fraction=0.5)
    return score(
        key, parse_predictions(csv_bytes, answer_key=key, manifest=bundle.manifest, metric=metric), metric
    )


def test_predictions_csv_labels_probabilities_and_numbers_pass_the_scorer():
    digits = load_dataset("digits")
    r = trainer.train(mlp(epochs=2), digits)
    body = trainer.predictions_csv(r, digits.manifest)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["id", "label"] and len(rows) == 1 + len(digits.test_ids)
    assert {row[1] for row in rows[1:]} <= set(digits.classes)
    public, private = _scored(body, "digits", "accuracy")
    assert 0.5 < public <= 1 and 0.5 < private <= 1

    cancer = load_dataset("breast-cancer")
    r = trainer.train(mlp(epochs=2), cancer)
    assert r.metric == "roc_auc"  # the manifest's metric: probabilities
    body = trainer.predictions_csv(r, cancer)  # a TrainData works as well as a manifest
    header = body.split(b"\n", 1)[0].decode()
    assert header == "id,malignant,benign"
    public, private = _scored(body, "breast-cancer", "roc_auc")
    assert public > 0.8 and private > 0.8
    labels = trainer.predictions_csv(r, cancer.manifest, "accuracy")
    assert labels.split(b"\n", 1)[0] == b"id,target"
    assert _scored(labels, "breast-cancer", "accuracy")[0] > 0.8

    diabetes = load_dataset("diabetes")
    r = trainer.train(mlp(epochs=2), diabetes)
    body = trainer.predictions_csv(r, diabetes.manifest)
    assert body.split(b"\n", 1)[0] == b"id,target"
    public, private = _scored(body, "diabetes", "rmse")
    assert 0 < public < 200  # targets are 25..346: clearly better than nonsense, in the target's units


def test_weights_are_safetensors_that_load_back_and_reproduce_the_predictions(small, tmp_path):
    config = example("residual_cnn.yaml", epochs=1)
    result = trainer.train(config, small, out_dir=tmp_path)
    path = tmp_path / "weights.safetensors"
    assert result.weights_path == path and path.is_file()
    assert not list(tmp_path.glob("*.part"))
    tensors = load_file(str(path))
    assert tensors.keys() == result.state_dict.keys()
    assert any(k.endswith("running_mean") for k in tensors)  # BatchNorm buffers travel too
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "podium-weights-1"
    assert parse_config(meta["config"]) == config
    std = json.loads(meta["preprocessing"])["standardize"]
    model = build_model(config, small.input_shape, small.n_outputs)
    model.load_state_dict(tensors)
    x = (small.X_test - np.asarray(std["mean"]).reshape(1, -1, 1, 1)) / np.asarray(std["std"]).reshape(
        1, -1, 1, 1
    )
    with torch.no_grad():
        proba = torch.softmax(model.eval()(torch.as_tensor(x, dtype=torch.float32)), dim=1).double().numpy()
    assert np.allclose(proba, result.probabilities, atol=1e-5)


def test_local_runner_writes_predictions_metrics_and_weights(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.local",
            str(EXAMPLES / "breast_cancer_mlp.yaml"),
            "--dataset",
            "breast-cancer",
            "--epochs",
            "3",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "validation roc_auc" in proc.stderr and "test accuracy" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and len(metrics["history"]) == 3
    assert metrics["dataset"] == "breast-cancer"
    assert set(metrics["test_metrics"]) == {"roc_auc", "accuracy"}
    assert (out / "predictions.csv").read_bytes().startswith(b"id,malignant,benign\n")
    assert load_file(str(out / "weights.safetensors"))


def test_local_runner_says_why_the_clock_budget_stopped_the_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.local",
            str(EXAMPLES / "digits_cnn.yaml"),
            "--dataset",
            "digits",
            "--epochs",
            "50",
            "--max-seconds",
            "0.05",  # an epoch of the digits CNN takes longer
            "--threads",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_reason"] == "budget_seconds"
    assert "the budget allows 0.05 s of training" in metrics["stop_message"]
    assert f"stopped (budget_seconds): {metrics['stop_message']}\n" in proc.stderr
    assert (out / "predictions.csv").is_file()  # a clock stop still predicts with what it has


def _runner(tmp_path, config: Path, dataset: str, *args: str) -> int:
    try:
        return local.main(
            [str(config), "--dataset", dataset, "--out", str(tmp_path / "out"), "--no-progress", *args]
        )
    except SystemExit as exc:
        return exc.code


def test_local_runner_says_why_the_epoch_budget_stopped_the_run(tmp_path, capsys):
    code = _runner(
        tmp_path, EXAMPLES / "breast_cancer_mlp.yaml", "breast-cancer", "--epochs", "3", "--max-epochs", "2"
    )
    err = capsys.readouterr().err
    assert code == 0, err
    # The platform refuses such a config; locally the trainer's cap applies, and the runner says both.
    assert "note: the platform would refuse this config under that budget: train.epochs: must be <= 2" in err
    assert "stopped (budget_epochs): stopped after 2 train epochs: the budget allows 2\n" in err
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["epochs_run"] == 2


def test_local_runner_says_why_early_stopping_ended_the_run(tmp_path, capsys):
    config = tmp_path / "es.yaml"
    config.write_text(
        "version: 1\nmodel: {layers: [linear: 32, relu, linear: auto]}\n"
        "train: {epochs: 300, optimizer: {name: adam, lr: 0.05}, early_stopping: {patience: 2}}\n"
    )
    assert _runner(tmp_path, config, "breast-cancer") == 0
    err = capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["stopped_reason"] == "early_stopping" and metrics["epochs_run"] < 300
    assert f"stopped (early_stopping): {metrics['stop_message']}\n" in err
    assert "did not improve for 2 epochs" in err


def test_local_runner_completed_run_prints_no_stop_line_and_a_clock_stop_in_pretraining_fails(
    tmp_path, capsys
):
    assert _runner(tmp_path, EXAMPLES / "breast_cancer_mlp.yaml", "breast-cancer", "--epochs", "2") == 0
    assert "stopped (" not in capsys.readouterr().err

    code = _runner(
        tmp_path, EXAMPLES / "pretrain_lora_digits.yaml", "digits-faded-fewshot", "--max-seconds", "0.01"
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "stopped (budget_seconds): stopped after" in err
    assert "error: no predictions: stopped after" in err and "during pre-training" in err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["stopped_reason"] == "budget_seconds"
    # The first run's outputs are gone: they would pass for this run's.
    assert not (tmp_path / "out" / "predictions.csv").exists()
    assert not (tmp_path / "out" / "weights.safetensors").exists()


@pytest.mark.parametrize(
    ("flag", "value", "what"),
    [
        ("--max-seconds", "0", "number"),
        ("--max-seconds", "inf", "number"),
        ("--max-epochs", "1.5", "whole number"),
        ("--max-params", "-3", "whole number"),
    ],
)
def test_local_runner_refuses_a_budget_that_is_not_positive(tmp_path, capsys, flag, value, what):
    assert _runner(tmp_path, EXAMPLES / "digits_cnn.yaml", "digits", flag, value) == 2
    assert f"error: argument {flag}: must be a positive {what}: '{value}'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("config", "dataset", "expected"),
    [
        (
            "version: 1\nmodel:\n  layers:\n    - conv2d: {channels: 8, kernel: 9}\n",
            "digits",
            "  model.layers[0].conv2d.kernel: must be <= 7",
        ),
        (None, "wine", "  model.layers[0].conv2d: needs image input, dataset 'wine' is tabular"),
        (None, "nope", "error: unknown built-in dataset 'nope'; known: digits,"),
    ],
)
def test_local_runner_refuses_bad_input_with_a_message_and_writes_nothing(
    tmp_path, capsys, config, dataset, expected
):
    path = EXAMPLES / "digits_cnn.yaml"
    if config is not None:
        path = tmp_path / "bad.yaml"
        path.write_text(config)
    with pytest.raises(SystemExit) as exc:
        local.main([str(path), "--dataset", dataset, "--out", str(tmp_path / "out"), "--no-progress"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- bad input


def test_cuda_without_a_gpu_is_a_clear_error(small):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(trainer.TrainError, match="no CUDA GPU"):
        trainer.train(mlp(), small, device="cuda")


def test_bf16_is_asked_for_but_the_cpu_trains_in_fp32(small):
    config = mlp(epochs=1)
    config = with_train(config, precision="bf16")
    result = trainer.train(config, small)
    assert result.precision == "fp32"


def test_a_diverging_run_fails_with_a_readable_reason():
    diabetes = load_dataset("diabetes")
    with pytest.raises(
        trainer.TrainError, match=r"training diverged: the train loss is (nan|inf) at epoch \d"
    ):
        trainer.train(mlp(epochs=5, lr=10.0, opt="sgd", sched="constant", dropout=False), diabetes)


def test_pretraining_on_another_input_shape_is_refused(small):
    config = parse_config(
        (EXAMPLES / "pretrain_lora_digits.yaml")
        .read_text()
        .replace("dataset: digits\n", "dataset: breast-cancer\n")
    )
    with pytest.raises(
        trainer.TrainError, match=r"'breast-cancer' has input shape \[30\], the target has \[1, 8, 8\]"
    ):
        trainer.train(config, small)


def test_a_metric_of_the_wrong_task_is_refused(small):
    with pytest.raises(
        trainer.TrainError, match="metric 'rmse' is for regression, the dataset is classification"
    ):
        trainer.train(mlp(), small, metric="rmse")


def test_arrays_that_do_not_match_the_manifest_are_refused(small):
    with pytest.raises(
        DataError, match=r"X_train has rows of shape \(64,\), manifest input_shape is \(1, 8, 8\)"
    ):
        TrainData(small.X_train.reshape(400, 64), small.y_train, small.X_test, small.test_ids, small.manifest)
    with pytest.raises(DataError, match="class index 10 is outside the manifest's 10 classes"):
        TrainData(small.X_train, np.full(400, 10), small.X_test, small.test_ids, small.manifest)
    with pytest.raises(DataError, match=r"label 'x' is not one of the manifest's classes"):
        TrainData(small.X_train, np.array(["x"] * 400), small.X_test, small.test_ids, small.manifest)
    with pytest.raises(DataError, match="y_train has 3 rows, X_train has 400"):
        TrainData(small.X_train, small.y_train[:3], small.X_test, small.test_ids, small.manifest)


def test_validation_split_is_stratified_seeded_and_keeps_every_class():
    y = np.array([0] * 50 + [1] * 30 + [2] * 2)
    tr, va = stratified_split(y, 0.2, 7, stratify=True)
    assert sorted(np.concatenate([tr, va])) == list(range(len(y)))
    assert [int((y[va] == c).sum()) for c in range(3)] == [
        10,
        6,
        0,
    ]  # round(0.4) = 0: the rare class stays in train
    assert [int((y[tr] == c).sum()) for c in range(3)] == [40, 24, 2]
    assert np.array_equal(stratified_split(y, 0.2, 7, stratify=True)[1], va)
    assert not np.array_equal(stratified_split(y, 0.2, 8, stratify=True)[1], va)
    tr, va = stratified_split(y, 0.0, 7, stratify=True)
    assert len(va) == 0 and len(tr) == len(y)


def test_with_epochs_gives_a_config_the_schema_accepts():
    text = (EXAMPLES / "transformer_digits.yaml").read_text(encoding="utf-8")
    full = parse_config(text)
    assert full.train.scheduler.name == "warmup_cosine" and full.train.scheduler.warmup_epochs == 3
    assert local.with_epochs(full, full.train.epochs) == full
    # A warm-up as long as the cut run would be refused (warmup_epochs < epochs): it is shortened.
    two = local.with_epochs(full, 2)
    assert (two.train.epochs, two.train.scheduler.name, two.train.scheduler.warmup_epochs) == (
        2,
        "warmup_cosine",
        1,
    )
    one = local.with_epochs(full, 1)
    assert (one.train.scheduler.name, one.train.scheduler.warmup_epochs) == ("cosine", 0)
    with pytest.raises(ConfigError, match="train.epochs: must be >= 1"):
        local.with_epochs(full, 0)


# --------------------------------------------------------------------------- fine-tuning

FT_LAYERS = "[conv2d: {channels: 4}, batchnorm, relu, linear: 16, relu, linear: auto]"
EVERY = {
    f"layers.{layer}.{param}"
    for layer in ("0.conv2d", "1.batchnorm", "3.linear", "5.linear")
    for param in ("weight", "bias")
}
HEAD = {"layers.5.linear.weight", "layers.5.linear.bias"}


def lora_of(*layers: str) -> set[str]:
    return {f"layers.{layer}.{ab}" for layer in layers for ab in ("lora_A", "lora_B")}


def watch_phases(monkeypatch) -> dict:
    """What each phase of a run trains: the parameters with requires_grad, the
    ones the optimiser got (by name), and every parameter before and after."""
    from workers.training import loop

    seen: dict = {}
    real_fit, real_optimizer = loop.Loop.fit, loop.build_optimizer
    handed: list[set[int]] = []

    def build_optimizer(params, cfg):
        handed.append({id(p) for p in params})
        return real_optimizer(params, cfg)

    def fit(self, model, tensors, plan):
        named = dict(model.named_parameters())
        record = {
            "requires_grad": {n for n, p in named.items() if p.requires_grad},
            "before": {n: p.detach().clone() for n, p in named.items()},
            "stats_before": {n: b.clone() for n, b in model.named_buffers()},
        }
        out = real_fit(self, model, tensors, plan)
        record["optimised"] = {n for n, p in named.items() if id(p) in handed[-1]}
        record["after"] = {n: p.detach().clone() for n, p in named.items()}
        record["stats_after"] = {n: b.clone() for n, b in model.named_buffers()}
        record["n_trainable"] = out.n_trainable
        seen[plan.phase] = record
        return out

    monkeypatch.setattr(loop, "build_optimizer", build_optimizer)
    monkeypatch.setattr(loop.Loop, "fit", fit)
    return seen


def class_subset(data: TrainData, classes: list[str], slug: str) -> TrainData:
    """The training rows of `data` labelled with one of `classes`, as a dataset of those
    classes alone (its test rows: the first 50, whatever their labels)."""
    names = np.asarray(data.classes, dtype=object)[data.target_indices()]
    keep = np.isin(names, classes)
    return TrainData(
        X_train=data.X_train[keep],
        y_train=names[keep],
        X_test=data.X_test[:50],
        test_ids=data.test_ids[:50],
        manifest={**data.manifest, "slug": slug, "classes": classes},
        slug=slug,
    )


@pytest.fixture(scope="module")
def fewshot(digits):
    """A target with other classes than its source `digits`: the digits 5-9 alone."""
    return class_subset(digits, ["5", "6", "7", "8", "9"], "digits-5to9")


@pytest.mark.parametrize(
    ("finetune", "trained"),
    [
        ("", EVERY),  # pre-training alone: the whole network trains on the target
        ("finetune: {mode: full}", EVERY),
        ("finetune: {mode: head}", HEAD),
        (
            "finetune: {mode: full, freeze: [0, 1]}",
            {p for p in EVERY if p.startswith(("layers.3", "layers.5"))},
        ),
        ("finetune: {mode: full, freeze: backbone}", HEAD),
        ("finetune: {adapter: {rank: 2, targets: [linear, conv2d]}}", lora_of("0.conv2d", "3.linear") | HEAD),
        ("finetune: {mode: lora}", lora_of("3.linear") | HEAD),  # the default adapter targets linear layers
        (
            "finetune: {mode: lora, freeze: none, adapter: {targets: [linear]}}",
            lora_of("3.linear") | HEAD | {p for p in EVERY if p.startswith(("layers.0", "layers.1"))},
        ),
        (
            "finetune: {mode: lora, freeze: [0, 1], adapter: {targets: [conv2d]}}",
            lora_of("0.conv2d") | HEAD | {"layers.3.linear.weight", "layers.3.linear.bias"},
        ),
    ],
)
def test_finetuning_trains_exactly_the_parameters_the_spec_names(
    monkeypatch, small, fewshot, finetune, trained
):
    """workers.spec's modes and freezing rules, applied by the trainer through
    workers.lora.prepare_finetune: requires_grad, the optimiser's parameters and
    the parameters that move are the same set, the expected one."""
    config = parse_config(
        f"version: 1\nmodel: {{layers: {FT_LAYERS}}}\n"
        "train: {epochs: 1, batch_size: 16, validation_fraction: 0.2}\n"
        f"pretrain: {{dataset: digits, epochs: 1}}\n{finetune}\n"
    )
    seen = watch_phases(monkeypatch)
    result = trainer.train(config, fewshot, pretrain_data=small)
    assert [h["phase"] for h in result.history] == ["pretrain", "train"]
    assert seen["pretrain"]["optimised"] == seen["pretrain"]["requires_grad"] == EVERY
    phase = seen["train"]
    assert phase["requires_grad"] == phase["optimised"] == trained
    moved = {n for n, p in phase["after"].items() if not torch.equal(p, phase["before"][n])}
    # Every trained parameter moves; the frozen ones stay exactly as pre-trained.
    assert moved == trained
    # A frozen BatchNorm keeps its pre-trained running statistics too; a trained one updates them.
    stats_moved = {n for n, b in phase["stats_after"].items() if not torch.equal(b, phase["stats_before"][n])}
    bn_stats = {f"layers.1.batchnorm.{b}" for b in ("running_mean", "running_var", "num_batches_tracked")}
    assert stats_moved == (bn_stats if "layers.1.batchnorm.weight" in trained else set())
    assert result.n_trainable == phase["n_trainable"] == sum(phase["before"][n].numel() for n in trained)
    # The target has other classes (5 against 10): a new head, and the pre-trained backbone kept.
    assert phase["before"]["layers.5.linear.weight"].shape == (5, 16)
    for name in EVERY - HEAD:
        base = (
            name
            if name in phase["before"]
            else name.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        )
        assert torch.equal(phase["before"][base], seen["pretrain"]["after"][name]), name
    assert not [k for k in result.state_dict if "lora" in k]  # adapters merged into the saved weights


@pytest.mark.parametrize(
    ("source_classes", "new_head"),
    [(["0", "1", "2", "3", "4"], True), (["5", "6", "7", "8", "9"], False)],  # other labels; the same
)
def test_finetuning_starts_a_new_head_when_the_labels_differ(
    monkeypatch, digits, fewshot, source_classes, new_head
):
    source = class_subset(digits, source_classes, "digits-source")
    target = fewshot
    assert source.n_outputs == target.n_outputs and (source.classes != target.classes) is new_head
    config = parse_config(
        f"version: 1\nmodel: {{layers: {FT_LAYERS}}}\ntrain: {{epochs: 1, batch_size: 16}}\n"
        "pretrain: {dataset: digits-source, epochs: 1}\nfinetune: {mode: head}\n"
    )
    seen = watch_phases(monkeypatch)
    trainer.train(config, target, pretrain_data=source)
    pre, ft = seen["pretrain"]["after"], seen["train"]["before"]
    assert torch.equal(pre["layers.3.linear.weight"], ft["layers.3.linear.weight"])
    assert torch.equal(pre["layers.5.linear.weight"], ft["layers.5.linear.weight"]) is not new_head


def test_finetuning_from_an_earlier_submission_is_refused_not_ignored(small):
    config = parse_config(
        f"version: 1\nmodel: {{layers: {FT_LAYERS}}}\nfinetune: {{mode: head, from_submission: 3}}\n"
    )
    with pytest.raises(trainer.TrainError, match="finetune.from_submission: .* not supported"):
        trainer.train(config, small)

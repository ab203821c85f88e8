"""What practitioners reach for next (issue 14, part 6): losses with label smoothing and class
weights, Huber and MAE; early stopping on the competition's metric; per-layer init and
zero-initialised residual blocks; attention pooling. The schema's bounds and messages first
(no torch needed), then what each does in a run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from datasets.metrics import get_metric
from workers import training as trainer
from workers.build import build_model
from workers.data import TrainData, load_dataset
from workers.spec import ConfigError, config_warnings, parse_config, validate_for_dataset
from workers.techniques.losses import balanced_weights, build_loss
from workers.training.plan import EarlyStopping
from workers.training.stopping import EarlyStopper

IRIS = {"slug": "iris", "task_type": "classification", "input_shape": [4], "classes": ["a", "b", "c"]}
DIABETES = {"slug": "diabetes", "task_type": "regression", "input_shape": [10]}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def config(
    train: str = "", model: str = "", layers: str = "[linear: 16, relu, linear: auto]", epochs: int = 3
):
    return f"version: 1\nmodel:\n  layers: {layers}\n{model}train:\n  epochs: {epochs}\n{train}"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def fit_problems(text: str, manifest) -> list[str]:
    return [f"{p.path}: {p.message}" for p in validate_for_dataset(parse_config(text), manifest)]


# --------------------------------------------------------------------------- the schema


@pytest.mark.parametrize(
    "train, expected",
    [
        (
            "  loss: {name: cross_entropy, label_smoothing: 0.6}\n",
            "train.loss.label_smoothing: must be <= 0.5",
        ),
        (
            "  loss: {name: cross_entropy, label_smoothing: -0.1}\n",
            "train.loss.label_smoothing: must be >= 0.0",
        ),
        (
            "  loss: {name: cross_entropy, class_weights: [1.0, 0]}\n",
            "train.loss.class_weights[1]: must be > 0.0",
        ),
        (
            "  loss: {name: cross_entropy, class_weights: even}\n",
            "train.loss.class_weights: must be balanced, or a list of one positive weight per class",
        ),
        (
            "  loss: {name: cross_entropy, class_weights: [2.0]}\n",
            "train.loss.class_weights: must have at least 2 items",
        ),
        ("  loss: {name: huber, delta: 0}\n", "train.loss.delta: must be > 0.0"),
        ("  loss: {name: mae, delta: 1}\n", "train.loss.delta: unknown field of mae"),
        (
            "  loss: hinge\n",
            "train.loss: unknown loss 'hinge'; expected one of: cross_entropy, mse, huber, mae",
        ),
        (
            "  early_stopping: {monitor: accuracy}\n",
            "train.early_stopping.monitor: must be 'val_loss' or 'metric'",
        ),
    ],
)
def test_loss_and_early_stopping_settings_are_bounded_with_their_paths(train, expected):
    assert problems(config(train)) == [expected]


def test_a_loss_of_the_other_task_and_weights_for_other_classes_are_refused_against_the_dataset():
    assert fit_problems(config("  loss: huber\n"), IRIS) == [
        "train.loss.name: huber is not a classification loss; dataset 'iris' is classification: use cross_entropy"
    ]
    assert fit_problems(config("  loss: {name: cross_entropy, label_smoothing: 0.1}\n"), DIABETES) == [
        "train.loss.name: cross_entropy is not a regression loss; dataset 'diabetes' is regression: "
        "use mse or huber or mae"
    ]
    assert fit_problems(config("  loss: {name: cross_entropy, class_weights: [1, 2]}\n"), IRIS) == [
        "train.loss.class_weights: has 2 weights; dataset 'iris' has 3 classes (a, b, c), one weight each in that order"
    ]
    assert fit_problems(config("  loss: {name: cross_entropy, class_weights: [1, 2, 3]}\n"), IRIS) == []
    assert fit_problems(config("  loss: {name: huber, delta: 0.5}\n"), DIABETES) == []


def test_zeros_is_a_layers_initialiser_and_zero_init_residual_needs_a_residual_block():
    assert problems(config(model="  init: zeros\n")) == [
        "model.init: zeros for every layer leaves all units of a layer identical, so they never learn apart; "
        "give init: zeros to single layers (e.g. the head) instead"
    ]
    assert problems(config(model="  zero_init_residual: true\n")) == [
        "model.zero_init_residual: the model has no residual block"
    ]
    assert problems(config(layers="[linear: {units: 4, init: he}]")) == [
        "model.layers[0].linear.init: unknown initialiser 'he'; expected one of: default, xavier_uniform, "
        "xavier_normal, he_uniform, he_normal, orthogonal, zeros"
    ]
    parse_config(
        config(
            layers="[conv2d: {channels: 4, init: {name: orthogonal, gain: 2}}, linear: {units: auto, init: zeros}]"
        )
    )


def test_attention_pool_needs_positions_and_channels_that_split_into_heads():
    text = config(layers="[attention_pool, linear: auto]")
    assert fit_problems(text, IRIS) == [
        "model.layers[0].attention_pool: needs sequence or image input, dataset 'iris' is tabular"
    ]
    seq = {**IRIS, "input_shape": [3, 20]}
    assert fit_problems(config(layers="[attention_pool: {heads: 2}, linear: auto]"), seq) == [
        "model.layers[0].attention_pool.heads: 3 channels do not split into 2 heads"
    ]
    assert problems(config(layers="[attention_pool: {heads: 17}, linear: auto]")) == [
        "model.layers[0].attention_pool.heads: must be <= 16"
    ]


def test_warnings_name_a_small_batch_under_batchnorm_and_bf16():
    small = parse_config(
        config("  batch_size: 2\n  precision: bf16\n", layers="[linear: 8, batchnorm, relu, linear: auto]")
    )
    warned = [(p.path, p.message) for p in config_warnings(small)]
    assert [path for path, _ in warned] == ["train.batch_size", "train.precision"]
    assert warned[0][1].startswith("2 rows per batch is too few for model.layers[1].batchnorm")
    assert "a CPU worker trains in fp32" in warned[1][1]
    assert (
        config_warnings(
            parse_config(config("  batch_size: 8\n", layers="[linear: 8, batchnorm, linear: auto]"))
        )
        == []
    )
    assert config_warnings(parse_config(config("  batch_size: 2\n"))) == []  # no BatchNorm


# --------------------------------------------------------------------------- losses


def test_losses_compute_what_torch_and_scikit_learn_define():
    torch.manual_seed(0)
    out, y = torch.randn(50, 3), torch.randint(0, 3, (50,))
    y[:5] = 0  # an imbalance
    smooth = parse_config(
        config("  loss: {name: cross_entropy, label_smoothing: 0.2, class_weights: balanced}\n")
    ).train.loss
    got = build_loss(smooth, classification=True, y_train=y, n_classes=3)(out, y)
    weights = compute_class_weight("balanced", classes=np.arange(3), y=y.numpy())
    want = F.cross_entropy(out, y, weight=torch.tensor(weights, dtype=torch.float32), label_smoothing=0.2)
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    assert balanced_weights(torch.tensor([4, 0, 2])).tolist() == pytest.approx([0.75, 0.0, 1.5])

    r, t = torch.randn(40, 1) * 3, torch.randn(40)
    for text, want in [
        ("  loss: mse\n", F.mse_loss(r.reshape(-1), t)),
        ("  loss: {name: huber, delta: 0.5}\n", F.huber_loss(r.reshape(-1), t, delta=0.5)),
        ("  loss: mae\n", F.l1_loss(r.reshape(-1), t)),
    ]:
        loss = parse_config(config(text)).train.loss
        assert float(
            build_loss(loss, classification=False, y_train=t, n_classes=None)(r, t)
        ) == pytest.approx(float(want))
    # Unset: the task's default.
    assert float(build_loss(None, classification=True, y_train=y, n_classes=3)(out, y)) == pytest.approx(
        float(F.cross_entropy(out, y))
    )


@pytest.fixture(scope="module")
def diabetes():
    return load_dataset("diabetes")


@pytest.fixture(scope="module")
def small_digits():
    d = load_dataset("digits")
    return TrainData(
        X_train=d.X_train[:400],
        y_train=d.y_train[:400],
        X_test=d.X_test[:100],
        test_ids=d.test_ids[:100],
        manifest=d.manifest,
        slug="digits",
    )


@pytest.mark.parametrize("loss", ["mse", "{name: huber, delta: 0.5}", "mae"])
def test_each_regression_loss_trains_and_reports_its_own_value(diabetes, loss):
    text = config(f"  loss: {loss}\n  optimizer: {{name: adam, lr: 0.01}}\n", epochs=5)
    result = trainer.train(parse_config(text), diabetes)
    assert result.stopped_reason == trainer.COMPLETED and np.isfinite(result.predictions).all()
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    # The reported validation loss is this loss: MAE on z-scored targets is about 0.5-0.8, far below
    # MSE's scale at the first epoch; huber with delta 0.5 is at most 0.5 x MAE.
    assert all(math.isfinite(h["val_loss"]) for h in result.history)


def test_class_weights_move_predictions_towards_the_heavier_class(small_digits):
    base = "  optimizer: {name: adam, lr: 0.01}\n"
    heavy = [1.0] * 10
    heavy[3] = 50.0
    plain = trainer.train(parse_config(config(base)), small_digits)
    weighted = trainer.train(
        parse_config(config(base + f"  loss: {{name: cross_entropy, class_weights: {heavy}}}\n")),
        small_digits,
    )
    assert (weighted.predictions == "3").sum() > (plain.predictions == "3").sum()


# --------------------------------------------------------------------------- early stopping on the metric


def test_the_stopper_follows_the_metrics_direction():
    higher = EarlyStopper(
        EarlyStopping(2, 0.0, "metric"), name="the validation accuracy", higher_is_better=True
    )
    assert higher.observe(1, 0.5) and higher.observe(2, 0.6)
    assert not higher.observe(3, 0.55) and not higher.observe(4, float("nan"))
    assert higher.check(4).message == (
        "early stopping at epoch 4: the validation accuracy did not improve for 2 epochs (best at epoch 2)"
    )
    lower = EarlyStopper(EarlyStopping(1, 0.1, "metric"), name="the validation rmse", higher_is_better=False)
    assert lower.observe(1, 60.0) and not lower.observe(2, 59.95) and lower.observe(3, 50.0)


def test_early_stopping_on_the_metric_keeps_the_best_metric_epoch(small_digits):
    text = config(
        "  optimizer: {name: adam, lr: 0.05}\n  validation_fraction: 0.2\n"
        "  early_stopping: {patience: 3, monitor: metric}\n",
        epochs=60,
    )
    result = trainer.train(parse_config(text), small_digits, metric="accuracy")
    values = [h["val_metric"]["value"] for h in result.history]
    assert result.best_epoch == int(np.argmax(values)) + 1  # the first of the best, in the metric's direction
    assert result.val_metric["value"] == max(values)
    if result.stopped_reason == trainer.EARLY_STOPPING:
        assert "the validation accuracy did not improve" in result.stop_message
    assert get_metric("accuracy").higher_is_better


# --------------------------------------------------------------------------- init


def test_per_layer_init_and_zero_init_residual_blocks_start_as_the_identity():
    text = config(
        model="  init: he_normal\n  zero_init_residual: true\n",
        layers="[linear: {units: 16, init: orthogonal}, residual: [linear: 16, relu, linear: 16], "
        "residual: [linear: 16, batchnorm], linear: {units: auto, init: zeros}]",
    )
    model = build_model(parse_config(text), (6,), 3)
    first = model.layers[0].inner.weight.detach()
    assert torch.allclose(first.T @ first, torch.eye(6), atol=1e-5)  # orthonormal columns
    block_one, block_two = model.layers[1].inner.block, model.layers[2].inner.block
    assert block_one[0].inner.weight.abs().sum() > 0  # the model's he_normal
    assert block_one[2].inner.weight.abs().sum() == 0  # the block's last linear
    assert (
        block_two[0].inner.weight.abs().sum() > 0 and block_two[1].inner.weight.abs().sum() == 0
    )  # its norm's scale
    assert model.layers[3].inner.weight.abs().sum() == 0
    # Each block is the identity at the start: the residual part adds nothing.
    x = torch.randn(5, 6)
    model.eval()
    with torch.no_grad():
        h = model.layers[0](x)
        assert torch.equal(model.layers[2](model.layers[1](h)), h)
    # Without the option the blocks are not the identity.
    plain = build_model(
        parse_config(text.replace("zero_init_residual: true", "zero_init_residual: false")), (6,), 3
    )
    assert plain.layers[1].inner.block[2].inner.weight.abs().sum() > 0


def test_zero_init_residual_tames_the_first_epochs_gradients():
    """The 14-block residual ReLU net without BatchNorm (examples/deep_residual_mlp.yaml):
    without zero-init the signal doubles per block and epoch 1's gradient norms are large."""
    from pathlib import Path

    digits = load_dataset("digits")
    text = (Path(__file__).resolve().parents[2] / "examples" / "deep_residual_mlp.yaml").read_text()
    text = text.replace("epochs: 20", "epochs: 1")
    norms = {}
    for zero in (True, False):
        variant = text.replace("zero_init_residual: true", f"zero_init_residual: {str(zero).lower()}")
        result = trainer.train(parse_config(variant), digits)
        norms[zero] = math.sqrt(sum(v * v for v in result.history[0]["grad_norms"].values()))
    assert norms[False] > 10 * norms[True]


# --------------------------------------------------------------------------- attention pooling


def test_attention_pool_is_a_learned_weighted_average_over_positions():
    model = build_model(parse_config(config(layers="[attention_pool: {heads: 2}, linear: auto]")), (4, 7), 3)
    pool = model.layers[0].inner
    x = torch.randn(3, 4, 7)
    with torch.no_grad():
        pool.query.zero_()  # equal scores everywhere: the plain mean
        assert torch.allclose(pool(x), x.mean(dim=2), atol=1e-6)
        pool.query[0] = torch.tensor([100.0, 0, 0, 0])  # head 0 looks at where channel 0 peaks
        picked = x[:, :2, :].gather(2, x[:, 0, :].argmax(dim=1).view(3, 1, 1).expand(3, 2, 1)).squeeze(2)
        assert torch.allclose(pool(x)[:, :2], picked, atol=1e-4)
    images = build_model(
        parse_config(config(layers="[conv2d: {channels: 4}, attention_pool, linear: auto]")), (1, 8, 8), 10
    )
    assert images(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_attention_pool_trains_on_sequences():
    waveforms = load_dataset("waveforms")
    text = config(
        "  optimizer: {name: adam, lr: 0.01}\n",
        layers="[conv1d: {channels: 16, kernel: 5}, relu, attention_pool: {heads: 4}, linear: auto]",
    )
    result = trainer.train(parse_config(text), waveforms)
    assert result.stopped_reason == trainer.COMPLETED
    assert "layers.2.attention_pool" in result.history[0]["grad_norms"]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]

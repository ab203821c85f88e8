"""Augmentation of image batches (kornia, on the training device) and test-time flips:
deterministic under the entry's seed, never applied to validation or test rows, and a
schema that names every mistake."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datasets.shapes import draw
from workers import training as trainer
from workers.build import build_model
from workers.data import TrainData, stratified_split
from workers.spec import AugmentSpec, ConfigError, parse_config, validate_for_dataset
from workers.training.augment import BatchAugment

CLASSES = ["circle", "square", "triangle"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _manifest(shape=(3, 16, 16), task_type="classification"):
    return {
        "slug": "tiny-shapes",
        "task_type": task_type,
        "input_shape": list(shape),
        "classes": CLASSES if task_type == "classification" else None,
        "metric": "accuracy" if task_type == "classification" else "rmse",
        "id_column": "id",
        "target": "label",
    }


@pytest.fixture(scope="module")
def shapes():
    """300 training and 60 test images of three shapes (16x16 crops of the shapes-32 generator)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([draw(k, 120, rng)[:, :, 8:24, 8:24] for k in range(3)])
    y = np.repeat(np.arange(3), 120)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    return TrainData(
        X_train=x[:300],
        y_train=y[:300],
        X_test=x[300:],
        test_ids=np.array([str(i) for i in range(60)], dtype=object),
        manifest=_manifest(),
        slug="tiny-shapes",
    )


CNN = """
version: 1
seed: {seed}
model:
  init: he_normal
  layers:
    - conv2d: {{channels: 8, kernel: 3}}
    - activation: relu
    - max_pool: {{kernel: 2}}
    - conv2d: {{channels: 8, kernel: 3}}
    - activation: relu
    - global_avg_pool: {{}}
    - linear: {{units: auto}}
train:
  epochs: 2
  batch_size: 32
  optimizer: {{name: adam, lr: 0.01}}
  validation_fraction: 0.2
{augment}
"""

FULL = """  augment:
    crop: {padding: 2}
    flip: {p: 0.5}
    color_jitter: {brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05, p: 0.8}
    cutout: {p: 0.5, max_area: 0.2}
    mix: {name: mixup, p: 0.5, max_lambda: 0.4}
"""


def cnn(seed=0, augment=FULL):
    return parse_config(CNN.format(seed=seed, augment=augment))


def test_augmented_training_is_deterministic_under_the_seed_and_changes_the_model(shapes):
    a = trainer.train(cnn(), shapes)
    b = trainer.train(cnn(), shapes)
    assert np.array_equal(a.probabilities, b.probabilities)
    plain = trainer.train(cnn(augment=""), shapes)
    assert not np.allclose(a.probabilities, plain.probabilities)
    other_seed = trainer.train(cnn(seed=1), shapes)
    assert not np.allclose(a.probabilities, other_seed.probabilities)


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_validation_and_test_rows_are_never_augmented(shapes, mix):
    """The run's last validation loss and its test probabilities are exactly what its final
    weights give on the rows as they are."""
    config = cnn(augment=FULL.replace("mixup", mix))
    result = trainer.train(config, shapes)
    model = build_model(config, shapes.input_shape, shapes.n_outputs)
    model.load_state_dict(result.state_dict)
    model.eval()
    stats = result.preprocessing["standardize"]
    mean = np.asarray(stats["mean"]).reshape(1, -1, 1, 1)
    std = np.asarray(stats["std"]).reshape(1, -1, 1, 1)

    def z(x):
        return torch.as_tensor(((x - mean) / std).astype(np.float32))

    with torch.no_grad():
        proba = torch.softmax(model(z(shapes.X_test)), dim=1).double().numpy()
        _, val_rows = stratified_split(shapes.y_train, 0.2, config.seed, stratify=True)
        val_loss = F.cross_entropy(
            model(z(shapes.X_train[val_rows])), torch.as_tensor(shapes.y_train[val_rows])
        )
    np.testing.assert_allclose(result.probabilities, proba, rtol=1e-5, atol=1e-6)
    assert result.history[-1]["val_loss"] == pytest.approx(float(val_loss), rel=1e-5)


def test_test_time_flips_average_the_image_and_its_mirror(shapes):
    config = cnn(augment="  augment: {flip: {}, tta: flip}\n")
    result = trainer.train(config, shapes)
    model = build_model(config, shapes.input_shape, shapes.n_outputs)
    model.load_state_dict(result.state_dict)
    model.eval()
    stats = result.preprocessing["standardize"]
    x = (shapes.X_test - np.reshape(stats["mean"], (1, -1, 1, 1))) / np.reshape(stats["std"], (1, -1, 1, 1))
    x = torch.as_tensor(x.astype(np.float32))
    with torch.no_grad():
        expected = (torch.softmax(model(x), 1) + torch.softmax(model(torch.flip(x, dims=(-1,))), 1)) / 2
    np.testing.assert_allclose(result.probabilities, expected.double().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(result.probabilities, torch.softmax(model(x), 1).detach().double().numpy())


def _augment(spec: str, shape=(3, 8, 8), mean=(0.0,) * 3, std=(1.0,) * 3, value_range=(0.0, 1.0)):
    import yaml

    return BatchAugment(
        AugmentSpec.model_validate(yaml.safe_load(spec)),
        image_shape=shape,
        mean=np.asarray(mean),
        std=np.asarray(std),
        value_range=value_range,
        device=torch.device("cpu"),
    )


def test_each_transform_does_what_it_says():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 8, 8) + 1.0  # no zeros: padding and cutout show as zeros
    y = torch.arange(16) % 3
    flipped, mixed = _augment("{flip: {p: 1.0}}").apply(x, y)
    assert mixed is None and torch.equal(flipped, torch.flip(x, dims=(-1,)))
    cropped, _ = _augment("{crop: {padding: 2}}").apply(x, y)
    assert cropped.shape == x.shape and (cropped == 0).any() and not torch.equal(cropped, x)
    erased, _ = _augment("{cutout: {p: 1.0, min_area: 0.1, max_area: 0.2}}").apply(x, y)
    zero_share = (erased == 0).float().mean(dim=(1, 2, 3))
    assert ((zero_share >= 0.05) & (zero_share <= 0.25)).all()
    # No-op jitter settings are the identity through the pixel-unit round trip.
    same, _ = _augment(
        "{color_jitter: {brightness: 0, contrast: 0, saturation: 0, hue: 0, p: 1.0}}",
        mean=(100.0, 120.0, 90.0),
        std=(50.0, 60.0, 40.0),
        value_range=(0.0, 255.0),
    ).apply((x - 1.0) * 2 - 1, y)
    torch.testing.assert_close(same, (x - 1.0) * 2 - 1, rtol=0, atol=1e-5)
    bright, _ = _augment("{color_jitter: {brightness: 0.5, contrast: 0, saturation: 0, p: 1.0}}").apply(
        x - 1.0, y
    )
    assert not torch.allclose(bright, x - 1.0)
    blended, labels = _augment("{mix: {name: mixup, p: 1.0, max_lambda: 0.3}}").apply(x, y)
    assert labels.shape == (16, 3) and (labels[:, 2] >= 0).all() and (labels[:, 2] <= 0.3).all()
    assert torch.equal(labels[:, 0].long(), y)
    # Each image is (1 - lam) of itself and lam of the image whose label is its second one.
    lam = labels[:, 2].reshape(-1, 1, 1, 1)
    shares = blended - (1 - lam) * x
    assert (shares >= -1e-5).all() and (shares <= lam * 2.0 + 1e-5).all()
    cut, labels = _augment("{mix: {name: cutmix, p: 1.0}}").apply(x, y)
    assert cut.shape == x.shape and labels.shape == (16, 3)


def test_the_mixed_loss_weighs_both_labels_by_their_share():
    out = torch.randn(4, 3)
    a, b = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 1, 0, 2])
    lam = torch.tensor([0.0, 0.5, 1.0, 0.25])
    labels = torch.stack([a.float(), b.float(), lam], dim=1)
    expected = (
        (1 - lam) * F.cross_entropy(out, a, reduction="none")
        + lam * F.cross_entropy(out, b, reduction="none")
    ).mean()
    torch.testing.assert_close(BatchAugment.mixed_loss(out, labels), expected)


@pytest.mark.parametrize(
    "augment, message",
    [
        ("{crop: {padding: 17}}", ("train.augment.crop.padding", "must be <= 16")),
        ("{flip: {p: 1.5}}", ("train.augment.flip.p", "must be <= 1")),
        ("{mix: {name: blend}}", ("train.augment.mix.name", "must be 'mixup' or 'cutmix'")),
        ("{mix: {}}", ("train.augment.mix.name", "is required")),
        (
            "{cutout: {min_area: 0.5, max_area: 0.2}}",
            ("train.augment.cutout.min_area", "must be <= max_area (0.2)"),
        ),
        ("{tta: rotate}", ("train.augment.tta", "must be 'none' or 'flip'")),
        ("{color_jitter: {hue: 0.7}}", ("train.augment.color_jitter.hue", "must be <= 0.5")),
        ("{rotate: {}}", ("train.augment.rotate", "unknown field")),
    ],
)
def test_the_schema_names_each_mistake(augment, message):
    with pytest.raises(ConfigError) as info:
        cnn(augment=f"  augment: {augment}\n")
    found = [(p.path, p.message) for p in info.value.problems]
    assert any(path == message[0] and text.startswith(message[1]) for path, text in found), found


def test_the_dataset_check_names_what_the_input_cannot_take():
    config = cnn()
    assert validate_for_dataset(config, _manifest()) == []
    problems = validate_for_dataset(config, _manifest(shape=(1, 16, 16)))
    assert [(p.path, p.message) for p in problems] == [
        (
            "train.augment.color_jitter.saturation",
            "needs RGB images; dataset 'tiny-shapes' has 1 channel(s): set it to 0",
        ),
        (
            "train.augment.color_jitter.hue",
            "needs RGB images; dataset 'tiny-shapes' has 1 channel(s): set it to 0",
        ),
    ]
    small = validate_for_dataset(cnn(augment="  augment: {crop: {padding: 4}}\n"), _manifest(shape=(3, 4, 4)))
    assert ("train.augment.crop.padding", "must be less than the image's height and width (4×4)") in [
        (p.path, p.message) for p in small
    ]
    tabular = parse_config(
        "version: 1\nmodel: {layers: [{linear: {units: auto}}]}\ntrain: {augment: {flip: {}}}\n"
    )
    (problem,) = validate_for_dataset(tabular, _manifest(shape=(30,)))
    assert problem.path == "train.augment" and problem.message.startswith("augments images (C×H×W input)")
    regression = validate_for_dataset(cnn(), _manifest(task_type="regression"))
    assert ("train.augment.mix", "mixes class labels; dataset 'tiny-shapes' is a regression") in [
        (p.path, p.message) for p in regression
    ]


def _windows(x: torch.Tensor, pad: int) -> list[list[torch.Tensor]]:
    """Every (2 * pad + 1)^2 window of each image padded by `pad` zeros, and of its mirror."""
    padded = F.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[-2:]
    return [
        [padded[i, :, t : t + h, s : s + w] for t in range(2 * pad + 1) for s in range(2 * pad + 1)]
        for i in range(len(x))
    ]


def test_a_crop_is_an_integer_shifted_window_of_the_zero_padded_image_drawn_per_image():
    torch.manual_seed(1)
    x = torch.rand(64, 3, 8, 8) + 1.0
    cropped, _ = _augment("{crop: {padding: 2}}").apply(x, torch.zeros(64, dtype=torch.long))
    windows = _windows(x, 2)
    offsets = []
    for i, image in enumerate(cropped):
        matches = [k for k, win in enumerate(windows[i]) if torch.equal(win, image)]
        assert len(matches) == 1, f"image {i} is no window of its padded self"
        offsets.append(matches[0])
    # 25 offsets, 64 images: many distinct offsets, not one shared by the batch.
    assert len(set(offsets)) >= 15


def test_flips_are_drawn_per_image_and_compose_with_the_crop():
    torch.manual_seed(2)
    x = torch.rand(200, 3, 6, 6)
    out, _ = _augment("{flip: {p: 0.5}}", shape=(3, 6, 6)).apply(x, torch.zeros(200, dtype=torch.long))
    same = torch.tensor([torch.equal(a, b) for a, b in zip(out, x, strict=True)])
    mirrored = torch.tensor([torch.equal(a, b.flip(-1)) for a, b in zip(out, x, strict=True)])
    assert (same ^ mirrored).all()
    assert 60 <= int(mirrored.sum()) <= 140
    never, _ = _augment("{flip: {p: 0.0}}", shape=(3, 6, 6)).apply(x, torch.zeros(200, dtype=torch.long))
    assert torch.equal(never, x)
    both, _ = _augment("{crop: {padding: 1}, flip: {p: 1.0}}", shape=(3, 6, 6)).apply(
        x[:20], torch.zeros(20, dtype=torch.long)
    )
    windows = _windows(x[:20].flip(-1), 1)
    assert all(any(torch.equal(w, image) for w in windows[i]) for i, image in enumerate(both))


JITTER = "{color_jitter: {brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.1, p: 0.5}}"
ALL = "{crop: {padding: 2}, flip: {}, cutout: {p: 0.5}, " + JITTER[1:]


def test_the_draws_are_per_image_and_repeat_under_the_same_seed():
    x = torch.rand(32, 3, 8, 8)
    y = torch.zeros(32, dtype=torch.long)
    aug = _augment(ALL)
    torch.manual_seed(7)
    a, _ = aug.apply(x, y)
    torch.manual_seed(7)
    b, _ = aug.apply(x, y)
    torch.manual_seed(8)
    c, _ = aug.apply(x, y)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # The same image in every row comes out differently in each: draws are per image.
    same = x[:1].expand(32, -1, -1, -1).contiguous()
    out, _ = aug.apply(same, y)
    assert len({tuple(img.flatten().tolist()) for img in out}) > 20


def test_colour_jitter_follows_torchvision_formulas_and_gates_per_image():
    """Each image is its original (gate closed) or one of the four adjustments alone with a
    factor in range; the hue shift keeps HSV's saturation and value (kornia's adjust_hue)."""
    import math

    from kornia.enhance import adjust_hue

    torch.manual_seed(3)
    x = torch.rand(100, 3, 8, 8) * 0.65 + 0.1  # brightness 1.3 stays below the clamp at 1
    y = torch.zeros(100, dtype=torch.long)
    bright, _ = _augment("{color_jitter: {brightness: 0.3, contrast: 0, saturation: 0, p: 0.5}}").apply(x, y)
    ratio = (bright / x).reshape(100, -1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4)  # one factor per image
    factor = ratio[:, 0]
    assert ((factor >= 0.7 - 1e-4) & (factor <= 1.3 + 1e-4)).all()
    untouched = (factor - 1).abs() < 1e-6
    assert 25 <= int(untouched.sum()) <= 75
    hue, _ = _augment("{color_jitter: {brightness: 0, contrast: 0, saturation: 0, hue: 0.5, p: 1.0}}").apply(
        x, y
    )
    v, s = x.amax(1), x.amax(1) - x.amin(1)
    torch.testing.assert_close(hue.amax(1), v, atol=1e-5, rtol=0)
    torch.testing.assert_close(hue.amax(1) - hue.amin(1), s, atol=1e-5, rtol=0)
    # One image shifted by a known amount matches kornia's HSV round trip.
    from workers.training.augment import _shift_hue

    turns = torch.linspace(-0.5, 0.5, 100)
    torch.testing.assert_close(_shift_hue(x, turns), adjust_hue(x, turns * 2 * math.pi), atol=1e-5, rtol=0)


def test_cutout_erases_one_rectangle_per_chosen_image():
    torch.manual_seed(4)
    x = torch.rand(100, 3, 16, 16) + 1.0
    out, _ = _augment("{cutout: {p: 0.5, min_area: 0.05, max_area: 0.2}}", shape=(3, 16, 16)).apply(
        x, torch.zeros(100, dtype=torch.long)
    )
    erased = out == 0
    assert (erased.all(1) | ~erased.any(1)).all()  # every channel alike
    mask = erased[:, 0]
    hit = mask.any(dim=(1, 2))
    assert 25 <= int(hit.sum()) <= 75
    for m in mask[hit]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        box = m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert box.all() and int(m.sum()) == box.numel()  # one solid rectangle
        assert 0.05 * 256 * 0.5 <= box.numel() <= 0.2 * 256 * 1.5

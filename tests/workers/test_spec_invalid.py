"""Invalid model configs: each names every problem by its path, with the exact message.

This module imports no torch, so that a subprocess can run every case and prove
that no invalid config reaches torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.problems import Problem
from common.protocol import Budget
from workers import techniques
from workers.spec import ConfigError, parse_config, validate_for_dataset

ROOT = Path(__file__).resolve().parents[2]

LAYER_NAMES = ", ".join(techniques.family("layer"))
ACTIVATIONS = "sigmoid, tanh, relu, leaky_relu, elu, gelu, silu"
OPTIMIZERS = "sgd, momentum, nesterov, rmsprop, adam, adamw"
INITS = "default, xavier_uniform, xavier_normal, he_uniform, he_normal, orthogonal, zeros"


def cfg(layers: str, rest: str = "") -> str:
    """A config whose model.layers is the YAML flow list `layers`."""
    return f"version: 1\nmodel:\n  layers: {layers}\n{rest}"


LINEAR = "[linear: auto]"

# (id, config text, expected problems as "path: message")
PARSE_CASES = [
    (
        "kernel-too-big",
        cfg("[conv2d: {channels: 32, kernel: 9}]"),
        ["model.layers[0].conv2d.kernel: must be <= 7"],
    ),
    (
        "typo-field",
        cfg("[conv2d: {channels: 32, kernal: 3}]"),
        ["model.layers[0].conv2d.kernal: unknown field of conv2d (did you mean 'kernel'?)"],
    ),
    (
        "unknown-layer",
        cfg("[conv3d: {channels: 8}]"),
        [f"model.layers[0]: unknown layer 'conv3d' (did you mean 'conv2d'?); expected one of: {LAYER_NAMES}"],
    ),
    ("bare-layer-needs-params", cfg("[conv2d]"), ["model.layers[0].conv2d.channels: is required"]),
    (
        "batchnorm-batch-of-one",
        cfg("[linear: 8, residual: [batchnorm, relu], linear: auto]", "train: {batch_size: 1}\n"),
        ["train.batch_size: must be >= 2: model.layers[1].residual[0].batchnorm normalises over the batch"],
    ),
    (
        "activation-without-name",
        cfg("[activation]"),
        [f"model.layers[0].activation.name: is required; expected one of: {ACTIVATIONS}"],
    ),
    (
        "unknown-activation",
        cfg("[activation: relux]"),
        [f"model.layers[0].activation: unknown activation 'relux'; expected one of: {ACTIVATIONS}"],
    ),
    (
        "activation-param-bound",
        cfg("[activation: {name: leaky_relu, negative_slope: 2}]"),
        ["model.layers[0].activation.negative_slope: must be <= 1.0"],
    ),
    (
        "activation-param-of-other",
        cfg("[activation: {name: relu, alpha: 2}]"),
        ["model.layers[0].activation.alpha: unknown field of relu"],
    ),
    ("dropout-shorthand-bound", cfg("[dropout: 1.5]"), ["model.layers[0].dropout: must be <= 0.95"]),
    (
        "units-not-auto",
        cfg("[linear: {units: autox}]"),
        ["model.layers[0].linear.units: must be an integer from 1 to 8192, or auto"],
    ),
    (
        "units-zero",
        cfg("[linear: 0]"),
        ["model.layers[0].linear: must be an integer from 1 to 8192, or auto"],
    ),
    (
        "residual-inner",
        cfg("[residual: [conv2d: {channels: 0}]]"),
        ["model.layers[0].residual[0].conv2d.channels: must be >= 1"],
    ),
    ("residual-empty", cfg("[residual: []]"), ["model.layers[0].residual: must have at least 1 item"]),
    (
        "two-keys",
        cfg("[{linear: auto, relu: {}}]"),
        [
            "model.layers[0]: a layer is a mapping with one key, the layer's name; got 2 keys: linear, relu "
            "(indent the parameters under the layer's name)"
        ],
    ),
    (
        "layer-number",
        cfg("[5]"),
        ["model.layers[0]: must be a layer name or a one-key mapping {name: params}"],
    ),
    ("no-layers", cfg("[]"), ["model.layers: must have at least 1 item"]),
    ("no-model", "version: 1\n", ["model: is required"]),
    ("version", "version: 2\nmodel: {layers: [relu]}\n", ["version: must be 1"]),
    ("seed-negative", cfg(LINEAR, "seed: -1\n"), ["seed: must be >= 0"]),
    (
        "heads-divide",
        cfg("[transformer_encoder: {d_model: 64, heads: 3}]"),
        ["model.layers[0].transformer_encoder.heads: must divide d_model (64)"],
    ),
    (
        "mlp-ratio",
        cfg("[transformer_encoder: {mlp_ratio: 0.5}]"),
        ["model.layers[0].transformer_encoder.mlp_ratio: must be >= 1.0"],
    ),
    (
        "lstm-dropout-one-layer",
        cfg("[lstm: {hidden: 8, dropout: 0.2}]"),
        ["model.layers[0].lstm.dropout: applies between stacked layers; needs layers >= 2"],
    ),
    ("pool-shorthand", cfg("[max_pool: 9]"), ["model.layers[0].max_pool: must be <= 8"]),
    (
        "padding",
        cfg("[conv1d: {channels: 4, padding: full}]"),
        ["model.layers[0].conv1d.padding: must be 'same' or 'valid'"],
    ),
    (
        "init-unknown",
        "version: 1\nmodel: {init: he, layers: [linear: auto]}\n",
        [f"model.init: unknown initialiser 'he'; expected one of: {INITS}"],
    ),
    (
        "init-mode",
        "version: 1\nmodel: {init: {name: he_normal, mode: fan_x}, layers: [linear: auto]}\n",
        ["model.init.mode: must be 'fan_in' or 'fan_out'"],
    ),
    ("epochs-bool", cfg(LINEAR, "train: {epochs: true}\n"), ["train.epochs: must be an integer"]),
    ("train-unknown-field", cfg(LINEAR, "train: {lr: 0.1}\n"), ["train.lr: unknown field"]),
    ("batch-size", cfg(LINEAR, "train: {batch_size: 0}\n"), ["train.batch_size: must be >= 1"]),
    (
        "validation-fraction",
        cfg(LINEAR, "train: {validation_fraction: 0.9}\n"),
        ["train.validation_fraction: must be <= 0.5"],
    ),
    ("precision", cfg(LINEAR, "train: {precision: fp16}\n"), ["train.precision: must be 'fp32' or 'bf16'"]),
    (
        "lr-zero",
        cfg(LINEAR, "train: {optimizer: {name: adam, lr: 0}}\n"),
        ["train.optimizer.lr: must be > 0.0"],
    ),
    (
        "lr-huge",
        cfg(LINEAR, "train: {optimizer: {name: sgd, lr: 100}}\n"),
        ["train.optimizer.lr: must be <= 10.0"],
    ),
    (
        "lr-string",
        cfg(LINEAR, "train: {optimizer: {name: sgd, lr: fast}}\n"),
        ["train.optimizer.lr: must be a number"],
    ),
    (
        "optimizer-foreign-param",
        cfg(LINEAR, "train: {optimizer: {name: adam, momentum: 0.9}}\n"),
        ["train.optimizer.momentum: unknown field of adam"],
    ),
    (
        "optimizer-unknown",
        cfg(LINEAR, "train: {optimizer: {name: adamx}}\n"),
        [f"train.optimizer.name: unknown optimizer 'adamx'; expected one of: {OPTIMIZERS}"],
    ),
    (
        "optimizer-unknown-bare",
        cfg(LINEAR, "train: {optimizer: adamx}\n"),
        [f"train.optimizer: unknown optimizer 'adamx'; expected one of: {OPTIMIZERS}"],
    ),
    (
        "betas",
        cfg(LINEAR, "train: {optimizer: {name: adam, betas: [0.9, 1.5]}}\n"),
        ["train.optimizer.betas[1]: must be < 1.0"],
    ),
    (
        "grad-clip",
        cfg(LINEAR, "train: {optimizer: {name: adam, grad_clip: -1}}\n"),
        ["train.optimizer.grad_clip: must be > 0.0"],
    ),
    (
        "scheduler-gamma",
        cfg(LINEAR, "train: {scheduler: {name: step, gamma: 2}}\n"),
        ["train.scheduler.gamma: must be <= 1.0"],
    ),
    (
        "warmup-too-long",
        cfg(LINEAR, "train: {epochs: 5, scheduler: {name: warmup_cosine, warmup_epochs: 5}}\n"),
        ["train.scheduler.warmup_epochs: must be less than train.epochs (5)"],
    ),
    (
        "batchnorm-pretrain-batch-of-one",
        cfg(
            "[linear: 8, batchnorm, linear: auto]",
            "pretrain: {dataset: digits, batch_size: 1}\nfinetune: {mode: head}\n",
        ),
        ["pretrain.batch_size: must be >= 2: model.layers[1].batchnorm normalises over the batch"],
    ),
    (
        "pretrain-warmup-too-long",
        cfg(
            LINEAR,
            "pretrain: {dataset: digits, epochs: 3, scheduler: {name: warmup_cosine, warmup_epochs: 3}}\n"
            "finetune: {mode: head}\n",
        ),
        ["pretrain.scheduler.warmup_epochs: must be less than pretrain.epochs (3)"],
    ),
    (
        "pretrain-inherits-a-warmup-too-long",
        cfg(
            LINEAR,
            "train: {epochs: 10, scheduler: {name: warmup_cosine, warmup_epochs: 4}}\n"
            "pretrain: {dataset: digits, epochs: 2}\nfinetune: {mode: head}\n",
        ),
        [
            "pretrain.epochs: must be more than the 4-epoch warm-up of train.scheduler, which pre-training "
            "uses too; give pretrain a scheduler of its own, or more epochs"
        ],
    ),
    (
        "early-stopping-no-validation",
        cfg(LINEAR, "train: {validation_fraction: 0, early_stopping: {patience: 3}}\n"),
        ["train.early_stopping: needs a validation split (train.validation_fraction > 0)"],
    ),
    (
        "pretrain-slug",
        cfg(LINEAR, "pretrain: {dataset: Digits 0-4}\n"),
        ["pretrain.dataset: must be a dataset slug (lowercase letters, digits, - and _)"],
    ),
    (
        "finetune-without-source",
        cfg(LINEAR, "finetune: {mode: head}\n"),
        ["finetune: needs pretrain (a dataset) or from_submission (an earlier entry's weights)"],
    ),
    (
        "finetune-two-sources",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {from_submission: 3}\n"),
        ["finetune.from_submission: cannot be combined with pretrain; choose one starting point"],
    ),
    (
        "head-mode-with-freeze-list",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {mode: head, freeze: [0]}\n"),
        ["finetune.freeze: mode head trains the head alone; leave freeze out or set it to backbone"],
    ),
    (
        "adapter-wrong-mode",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {mode: head, adapter: {rank: 2}}\n"),
        ["finetune.adapter: needs mode: lora (mode is head)"],
    ),
    (
        "lora-rank",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {adapter: {rank: 0}}\n"),
        ["finetune.adapter.rank: must be >= 1"],
    ),
    (
        "lora-target",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {adapter: {targets: [lstm]}}\n"),
        ["finetune.adapter.targets[0]: must be 'linear' or 'conv2d'"],
    ),
    (
        "lora-target-absent",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {adapter: {targets: [conv2d]}}\n"),
        ["finetune.adapter.targets: the model has no conv2d layer to adapt"],
    ),
    (
        "freeze-word",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {freeze: all}\n"),
        ["finetune.freeze: must be backbone, none, or a list of layer indices"],
    ),
    (
        "freeze-index",
        cfg(LINEAR, "pretrain: {dataset: a}\nfinetune: {freeze: [0, 9]}\n"),
        ["finetune.freeze[1]: no layer 9; model.layers has 1 (0 to 0)"],
    ),
    (
        "several-at-once",
        cfg("[conv2d: {channels: 0, kernel: 8}]", "train: {epochs: 0}\n"),
        [
            "model.layers[0].conv2d.channels: must be >= 1",
            "model.layers[0].conv2d.kernel: must be <= 7",
            "train.epochs: must be >= 1",
        ],
    ),
    ("not-a-mapping", "- relu\n", ["the config must be a mapping with version, model and train"]),
    (
        "yaml-aliases",
        "version: 1\nmodel: &m {layers: [relu]}\nx: *m\n",
        ["not valid YAML: anchors and aliases are not allowed at line 3 column 4"],
    ),
    ("empty", "  \n", ["the config is empty"]),
]

WINE = {"slug": "wine", "task_type": "classification", "input_shape": [13], "classes": ["0", "1", "2"]}
DIGITS = {
    "slug": "digits",
    "task_type": "classification",
    "input_shape": [1, 8, 8],
    "classes": [str(i) for i in range(10)],
}
SERIES = {"slug": "series", "task_type": "classification", "input_shape": [3, 32], "classes": ["a", "b"]}
DIABETES = {"slug": "diabetes", "task_type": "regression", "input_shape": [10]}
MANIFESTS = {"wine": WINE, "digits": DIGITS, "series": SERIES, "diabetes": DIABETES}

# (id, config text, dataset, budget, allowed pre-training, expected problems)
DATASET_CASES = [
    (
        "conv2d-on-tabular",
        cfg("[conv2d: {channels: 8}, linear: auto]"),
        "wine",
        None,
        (),
        ["model.layers[0].conv2d: needs image input, dataset 'wine' is tabular"],
    ),
    (
        "lstm-on-image",
        cfg("[lstm: 8, linear: auto]"),
        "digits",
        None,
        (),
        ["model.layers[0].lstm: needs sequence input, dataset 'digits' is image"],
    ),
    (
        "conv1d-on-image",
        cfg("[conv1d: {channels: 8}, linear: auto]"),
        "digits",
        None,
        (),
        ["model.layers[0].conv1d: needs sequence input, dataset 'digits' is image"],
    ),
    (
        "kernel-bigger-than-input",
        cfg("[conv2d: {channels: 8}, max_pool: 4, conv2d: {channels: 8, kernel: 3}, linear: auto]"),
        "digits",
        None,
        (),
        ["model.layers[2].conv2d.kernel: kernel 3 is larger than the input's size 2×2 at this layer"],
    ),
    (
        "global-pool-after-linear",
        cfg("[linear: 16, global_avg_pool, linear: auto]"),
        "wine",
        None,
        (),
        [
            "model.layers[1].global_avg_pool: needs sequence or image input, the previous layer gives tabular [16]"
        ],
    ),
    (
        "head-width",
        cfg("[flatten, linear: 5]"),
        "digits",
        None,
        (),
        ["model.layers[1].linear.units: must be 10 or auto: dataset 'digits' needs 10 outputs (its classes)"],
    ),
    (
        "regression-width",
        cfg("[linear: 3, dropout: 0.1]"),
        "diabetes",
        None,
        (),
        ["model.layers[0].linear.units: must be 1 or auto: dataset 'diabetes' needs 1 output (regression)"],
    ),
    (
        "ends-with-image",
        cfg("[conv2d: {channels: 8}]"),
        "digits",
        None,
        (),
        [
            "model.layers: the network ends with image output [8,8,8]; dataset 'digits' needs 10 outputs (its classes): "
            "end with linear: {units: auto}"
        ],
    ),
    (
        "residual-kind-change",
        cfg("[residual: [flatten], linear: auto]"),
        "digits",
        None,
        (),
        [
            "model.layers[0].residual: the block turns image [1,8,8] into tabular [64]; a skip connection needs the block to keep the kind of input"
        ],
    ),
    (
        "residual-inner-path",
        cfg("[residual: [linear: 4, conv2d: {channels: 4}], linear: auto]"),
        "wine",
        None,
        (),
        ["model.layers[0].residual[1].conv2d: needs image input, the previous layer gives tabular [4]"],
    ),
    (
        "patch-too-big",
        cfg("[transformer_encoder: {patch: 16}, linear: auto]"),
        "digits",
        None,
        (),
        ["model.layers[0].transformer_encoder.patch: patch 16 is larger than the 8×8 image"],
    ),
    (
        "epochs-over-budget",
        cfg(LINEAR, "train: {epochs: 50}\n"),
        "wine",
        {"epochs": 20},
        (),
        ["train.epochs: must be <= 20 (the competition's budget)"],
    ),
    (
        "pretrain-not-allowed",
        cfg(LINEAR, "pretrain: {dataset: imagenet}\n"),
        "wine",
        None,
        ("digits",),
        ["pretrain.dataset: 'imagenet' is not allowed for pre-training here; allowed: digits"],
    ),
    (
        "pretrain-none-allowed",
        cfg(LINEAR, "pretrain: {dataset: imagenet, epochs: 30}\n"),
        "wine",
        {"epochs": 20},
        (),
        [
            "pretrain.epochs: must be <= 20 (the competition's budget)",
            "pretrain.dataset: 'imagenet' is not allowed for pre-training here; this competition allows no pre-training dataset",
        ],
    ),
    (
        "everything-wrong",
        cfg("[conv2d: {channels: 8}, linear: auto]", "train: {epochs: 50}\n"),
        "wine",
        {"epochs": 5, "params": 10},
        (),
        [
            "model.layers[0].conv2d: needs image input, dataset 'wine' is tabular",
            "train.epochs: must be <= 5 (the competition's budget)",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_invalid_config_names_every_problem(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(p) for p in info.value.problems] == expected


@pytest.mark.parametrize(
    ("text", "dataset", "budget", "allowed", "expected"),
    [c[1:] for c in DATASET_CASES],
    ids=[c[0] for c in DATASET_CASES],
)
def test_config_invalid_for_dataset(text, dataset, budget, allowed, expected):
    config = parse_config(text)
    problems = validate_for_dataset(
        config, MANIFESTS[dataset], budget=Budget.from_dict(budget), allowed_pretrain=set(allowed)
    )
    assert [str(p) for p in problems] == expected
    assert all(isinstance(p, Problem) for p in problems)


def test_there_are_at_least_30_invalid_configs():
    assert len(PARSE_CASES) + len(DATASET_CASES) >= 30
    assert len({c[0] for c in PARSE_CASES + DATASET_CASES}) == len(PARSE_CASES) + len(DATASET_CASES)


def test_yaml_syntax_error_gives_line_and_column():
    with pytest.raises(ConfigError) as info:
        parse_config("version: 1\nmodel: {layers: [relu\n")
    (problem,) = info.value.problems
    assert (
        problem.path is None
        and problem.message.startswith("not valid YAML: ")
        and "line 3 column 1" in problem.message
    )


def test_json_syntax_error_gives_line_and_column():
    with pytest.raises(ConfigError) as info:
        parse_config('{"version": 1,\n "model": }')
    assert [str(p) for p in info.value.problems] == ["not valid JSON: Expecting value at line 2 column 11"]


def test_oversized_config_is_refused_before_parsing():
    with pytest.raises(ConfigError) as info:
        parse_config("# " + "x" * 100_001)
    assert [str(p) for p in info.value.problems] == ["the config is larger than 100 kB"]


def test_no_invalid_config_reaches_torch():
    """Every invalid case, in a fresh interpreter, with a parameter budget set: torch is never imported."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_spec_invalid as t\n"
        "from common.protocol import Budget\n"
        "from workers.spec import ConfigError, parse_config, validate_for_dataset\n"
        "for case in t.PARSE_CASES:\n"
        "    try:\n"
        "        parse_config(case[1])\n"
        "    except ConfigError:\n"
        "        continue\n"
        "    raise SystemExit('accepted: ' + case[0])\n"
        "for case in t.DATASET_CASES:\n"
        "    budget = Budget.from_dict(dict(case[3] or {}, params=10**9))\n"
        "    assert validate_for_dataset(parse_config(case[1]), t.MANIFESTS[case[2]], budget=budget, allowed_pretrain=set(case[4]))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _nested_residual(depth: int) -> str:
    return (
        '{"version": 1, "model": {"layers": ['
        + '{"residual": [' * depth
        + '{"linear": "auto"}'
        + "]}" * depth
        + "]}}"
    )


def test_residual_nesting_is_limited_with_one_problem():
    with pytest.raises(ConfigError) as info:
        parse_config(_nested_residual(6))
    assert [str(p) for p in info.value.problems] == [
        "model.layers[0]" + ".residual[0]" * 4 + ".residual: residual blocks nest at most 4 deep"
    ]


@pytest.mark.parametrize(
    "text", [_nested_residual(3000), "version: 1\nmodel: {layers: " + "[" * 5000 + "]" * 5000 + "}"]
)
def test_pathological_nesting_is_refused_quickly(text):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(p) for p in info.value.problems] == ["the config is nested too deeply"]

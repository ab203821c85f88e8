"""The pure-Python parameter count (workers.spec.count_parameters) against torch's:
every registered technique with several settings on every input kind it takes, LoRA
adapters, and every example config on its own dataset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from datasets.catalog import build as build_bundle
from workers import techniques
from workers.build import build_model
from workers.lora import prepare_finetune
from workers.spec import ConfigError, count_parameters, n_outputs_for, output_shape, parse_config

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
N_OUT = 3
# Tabular, sequence C×T and image C×H×W, with one and several channels.
SHAPES = [(6,), (1,), (3, 12), (1, 9), (2, 8, 8), (1, 7, 9)]

# Per layer technique: the layer as written in a config, with different parameters.
LAYER_SETTINGS: dict[str, list[str]] = {
    "linear": ["linear: 16", "linear: {units: auto, bias: false}"],
    "activation": ["activation: relu", "activation: {name: leaky_relu, negative_slope: 0.1}"],
    "dropout": ["dropout: 0.2"],
    "flatten": ["flatten"],
    "batchnorm": ["batchnorm", "batchnorm: {momentum: 0.2, eps: 0.001}"],
    "layernorm": ["layernorm", "layernorm: {eps: 0.001}"],
    "conv1d": [
        "conv1d: {channels: 4}",
        "conv1d: {channels: 5, kernel: 5, stride: 2, padding: valid, bias: false}",
    ],
    "conv2d": [
        "conv2d: {channels: 4}",
        "conv2d: {channels: 4, init: zeros}",
        "conv2d: {channels: 5, kernel: 5, stride: 2, padding: valid, bias: false}",
    ],
    "separable_conv2d": [
        "separable_conv2d: {channels: 4}",
        "separable_conv2d: {channels: 6, kernel: 5, stride: 2, multiplier: 3, bias: false}",
    ],
    **{
        name: [f"{name}: {{kernel: 2}}", f"{name}: {{kernel: 3, stride: 1}}"]
        for name in ("max_pool", "avg_pool", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")
    },
    "global_avg_pool": ["global_avg_pool"],
    "global_max_pool": ["global_max_pool"],
    "attention_pool": ["attention_pool", "attention_pool: {heads: 2}"],
    "lstm": ["lstm: 8", "lstm: {hidden: 5, layers: 3, bidirectional: true, dropout: 0.1, output: sequence}"],
    "gru": ["gru: 8", "gru: {hidden: 5, layers: 2, bidirectional: true, output: sequence}"],
    "residual": [
        "residual: [linear: 6]",  # identity skip on 6 features
        "residual: [linear: 4, relu]",  # linear projection
        "residual: [conv1d: {channels: 3}, relu]",
        "residual: [conv1d: {channels: 4, stride: 2}]",  # strided 1x1 conv1d projection
        "residual: [conv2d: {channels: 2}, batchnorm]",
        "residual: [conv2d: {channels: 5, stride: 2}, residual: [conv2d: {channels: 5}]]",
    ],
    "embedding": ["embedding: 8", "embedding: {dim: 4, dims: {color: 3}}"],
    "transformer_encoder": [
        "transformer_encoder: {d_model: 8, heads: 2, depth: 1}",
        "transformer_encoder: {d_model: 16, heads: 4, depth: 2, mlp_ratio: 1.5, patch: 2, pool: cls}",
        "transformer_encoder: {d_model: 8, heads: 1, patch: 3, pool: none}",
    ],
}


def config_of(layers: list[str], rest: str = "") -> str:
    return "version: 1\nmodel:\n  layers:\n" + "".join(f"    - {layer}\n" for layer in layers) + rest


# Discrete inputs (the manifest's `inputs`): token ids of a text set, a table's categorical columns.
TOKENS = {"kind": "tokens", "vocab_size": 50, "max_length": 12, "pad_id": 0}
CATEGORICAL = {
    "kind": "tabular",
    "categorical": {
        "color": {"index": 1, "categories": ["red", "blue"]},
        "city": {"index": 4, "categories": ["a"]},
    },
}
INPUTS = {None: None, "tokens": TOKENS, "categorical": CATEGORICAL}


def _fits(text: str, shape: tuple[int, ...], inputs=None) -> bool:
    try:
        output_shape(parse_config(text), shape, N_OUT, inputs=inputs)
    except ConfigError:
        return False
    return True


LAYER_CASES = [
    (layer, shape, kind)
    for settings in LAYER_SETTINGS.values()
    for layer in settings
    for shape in SHAPES
    for kind in INPUTS
    if (kind is None or layer.startswith("embedding")) and _fits(config_of([layer]), shape, INPUTS[kind])
]


def torch_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_layer_technique_is_counted_with_every_setting():
    assert set(LAYER_SETTINGS) == set(techniques.family("layer"))
    for settings in LAYER_SETTINGS.values():
        for layer in settings:
            assert [shape for case, shape, _ in LAYER_CASES if case == layer], f"{layer} fits no input shape"
    # Every kind of input a technique takes is counted: here, all three for the shape-agnostic ones.
    kinds = {(layer.split(":")[0], len(shape)) for layer, shape, _ in LAYER_CASES}
    assert {("embedding: 8", "tokens"), ("embedding: 8", "categorical")} <= {
        (c[0], c[2]) for c in LAYER_CASES
    }
    assert {("linear", 1), ("linear", 2), ("linear", 3), ("transformer_encoder", 1)} <= kinds
    assert {("transformer_encoder", 2), ("transformer_encoder", 3), ("residual", 1), ("residual", 3)} <= kinds


@pytest.mark.parametrize(
    ("layer", "shape", "kind"), LAYER_CASES, ids=[f"{c[0]}@{c[1]}{c[2] or ''}" for c in LAYER_CASES]
)
def test_layer_count_equals_torch(layer, shape, kind):
    config = parse_config(config_of([layer]))
    inputs = INPUTS[kind]
    assert count_parameters(config, shape, N_OUT, inputs=inputs) == torch_count(
        build_model(config, shape, N_OUT, inputs=inputs)
    )


TEXT_STACKS = [
    ["embedding: 8", "lstm: {hidden: 6, bidirectional: true}"],
    ["embedding: 8", "gru: 5", "linear: auto"],
    ["embedding: 8", "conv1d: {channels: 4}", "global_max_pool", "linear: auto"],
    ["embedding: 16", "transformer_encoder: {d_model: 16, heads: 2, depth: 1, pool: cls}", "linear: auto"],
    ["embedding: 16", "residual: [conv1d: {channels: 16}, relu]", "global_avg_pool"],
]


@pytest.mark.parametrize("layers", TEXT_STACKS, ids=[s[1].split(":")[0] for s in TEXT_STACKS])
def test_text_models_count_equals_torch(layers):
    config = parse_config(config_of(layers))
    shape = (TOKENS["max_length"],)
    assert count_parameters(config, shape, N_OUT, inputs=TOKENS) == torch_count(
        build_model(config, shape, N_OUT, inputs=TOKENS)
    )
    # The embedding's table is the vocabulary times the vector size.
    embedding = build_model(config, shape, N_OUT, inputs=TOKENS).layers[0].inner.embedding
    assert tuple(embedding.weight.shape) == (TOKENS["vocab_size"], int(layers[0].split(": ")[1]))


@pytest.mark.parametrize("name", list(techniques.family("activation")))
def test_activations_have_no_parameters(name):
    config = parse_config(config_of(["linear: 4", f"activation: {name}", "linear: auto"]))
    assert (
        count_parameters(config, (6,), N_OUT)
        == torch_count(build_model(config, (6,), N_OUT))
        == (6 * 4 + 4) + (4 * 3 + 3)
    )


# zeros is a layer's initialiser only (the model-wide one is refused: tests/workers/test_train_techniques.py).
@pytest.mark.parametrize("name", [n for n in techniques.family("init") if n != "zeros"])
def test_initialisers_leave_the_count_alone(name):
    config = parse_config(config_of(["conv2d: {channels: 4}", "relu", "linear: auto"], f"  init: {name}\n"))
    assert count_parameters(config, (2, 8, 8), N_OUT) == torch_count(build_model(config, (2, 8, 8), N_OUT))


def test_optimizers_schedulers_and_losses_shape_no_model():
    """The families left out above train a model or score it; they add no parameter to it."""
    counted = {"layer", "activation", "init", "adapter"}
    assert set(techniques.FAMILIES) - counted == {"optimizer", "scheduler", "loss"}


# Models with every kind of layer LoRA wraps (nn.Linear; ungrouped nn.Conv2d, a depthwise
# convolution on one channel included), and a head it leaves alone.
ADAPTED_MODELS = [
    (["linear: 16", "relu", "linear: auto"], (6,)),
    (["residual: [linear: 4, relu]", "linear: auto"], (6,)),
    (["transformer_encoder: {d_model: 8, heads: 2}", "linear: auto"], (6,)),
    (["transformer_encoder: {d_model: 8, heads: 2, pool: cls}", "linear: auto"], (3, 12)),
    (["lstm: 8", "linear: 8", "linear: auto"], (3, 12)),
    (
        [
            "conv1d: {channels: 4}",
            "residual: [conv1d: {channels: 6, stride: 2}]",
            "linear: 8",
            "linear: auto",
        ],
        (3, 12),
    ),
    (
        [
            "separable_conv2d: {channels: 4}",
            "conv2d: {channels: 4}",
            "separable_conv2d: {channels: 6, multiplier: 2}",
            "residual: [conv2d: {channels: 8, stride: 2}, batchnorm]",
            "flatten",
            "linear: 16",
            "linear: auto",
        ],
        (1, 8, 8),
    ),
    (["transformer_encoder: {d_model: 16, heads: 4, patch: 2}", "linear: 8", "linear: auto"], (2, 8, 8)),
]
ADAPTERS = ["{rank: 1}", "{rank: 4, targets: [conv2d]}", "{rank: 8, alpha: 16, targets: [linear, conv2d]}"]


def lora_config(layers: list[str], adapter: str) -> str:
    return config_of(layers, f"finetune: {{adapter: {adapter}, from_submission: 1}}\n")


def _valid(text: str) -> bool:
    try:
        parse_config(text)
    except ConfigError:
        return False  # e.g. conv2d targets and no conv2d layer
    return True


LORA_CASES = [
    (layers, shape, adapter)
    for layers, shape in ADAPTED_MODELS
    for adapter in ADAPTERS
    if _valid(lora_config(layers, adapter))
]


@pytest.mark.parametrize(("layers", "shape", "adapter"), LORA_CASES)
def test_lora_adapters_count_equals_torch(layers, shape, adapter):
    config = parse_config(lora_config(layers, adapter))
    model = build_model(config, shape, N_OUT)
    base = torch_count(model)
    assert count_parameters(config, shape, N_OUT) == base
    adapted = torch_count(prepare_finetune(model, config.finetune, N_OUT))
    assert adapted > base
    assert count_parameters(config, shape, N_OUT, with_adapters=True) == adapted


def test_without_lora_the_adapters_add_nothing():
    config = parse_config(
        config_of(["linear: 16", "linear: auto"], "finetune: {mode: head, from_submission: 1}\n")
    )
    assert count_parameters(config, (6,), N_OUT, with_adapters=True) == count_parameters(config, (6,), N_OUT)


def _dataset_of(path: Path) -> str:
    return re.search(r"^#.*\(dataset: ([a-z0-9-]+)\)", path.read_text(encoding="utf-8"), re.M).group(1)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_count_equals_torch_on_its_dataset(path):
    config = parse_config(path.read_text(encoding="utf-8"))
    manifest = build_bundle(_dataset_of(path)).manifest
    shape, n_out = tuple(manifest["input_shape"]), n_outputs_for(manifest)
    model = build_model(config, shape, n_out)
    assert count_parameters(config, shape, n_out) == torch_count(model)
    if config.finetune is not None:
        model = prepare_finetune(model, config.finetune, n_out)
    assert count_parameters(config, shape, n_out, with_adapters=True) == torch_count(model)


def test_a_layer_that_cannot_take_its_input_is_refused_by_path():
    config = parse_config(
        config_of(["conv2d: {channels: 2}", "transformer_encoder: {patch: 16}", "linear: auto"])
    )
    with pytest.raises(ConfigError) as info:
        count_parameters(config, (1, 8, 8), N_OUT)
    assert [str(p) for p in info.value.problems] == [
        "model.layers[1].transformer_encoder.patch: patch 16 is larger than the 8×8 image"
    ]

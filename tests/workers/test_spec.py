"""The model-config schema on valid input: YAML and JSON, shorthands, the
published JSON Schema and the techniques catalog."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from common.protocol import Budget
from workers import techniques
from workers.spec import (
    ConfigError,
    ModelConfig,
    json_schema,
    load_config,
    n_outputs_for,
    parse_config,
    techniques_catalog,
    validate_for_dataset,
)

DESIGN = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"

DESIGN_EXAMPLE = """
version: 1
seed: 0
model:
  init: he_normal
  layers:
    - conv2d: {channels: 32, kernel: 3}
    - batchnorm: {}
    - activation: relu
    - residual:
        - conv2d: {channels: 32, kernel: 3}
        - batchnorm: {}
        - activation: relu
        - conv2d: {channels: 32, kernel: 3}
    - separable_conv2d: {channels: 64, kernel: 3, stride: 2}
    - global_avg_pool: {}
    - dropout: {p: 0.2}
    - linear: {units: auto}
train:
  epochs: 20
  batch_size: 64
  optimizer: {name: adam, lr: 0.001, weight_decay: 0.0}
  scheduler: {name: cosine, warmup_epochs: 1}
  validation_fraction: 0.1
pretrain:
  dataset: digits-0to4
  epochs: 5
finetune:
  adapter: {name: lora, rank: 4, alpha: 8, targets: [linear, conv2d]}
  freeze: backbone
"""

DIGITS = {
    "slug": "digits",
    "task_type": "classification",
    "input_shape": [1, 8, 8],
    "classes": [str(i) for i in range(10)],
}


def test_design_example_parses():
    config = parse_config(DESIGN_EXAMPLE)
    assert config.version == 1
    assert [item.technique for item in config.model.layers] == [
        "conv2d",
        "batchnorm",
        "activation",
        "residual",
        "separable_conv2d",
        "global_avg_pool",
        "dropout",
        "linear",
    ]
    assert config.model.init.name == "he_normal" and config.model.init.mode == "fan_in"
    assert config.model.layers[3].params[0].params.channels == 32
    assert config.train.optimizer.name == "adam" and config.train.optimizer.betas == (0.9, 0.999)
    assert config.train.scheduler.warmup_epochs == 1
    assert config.finetune.effective_mode == "lora"
    assert config.finetune.effective_adapter.targets == ["linear", "conv2d"]
    assert config.finetune.effective_freeze == "backbone"


def test_design_md_example_is_still_valid():
    if not DESIGN.exists():
        pytest.skip("../shared/DESIGN.md is not beside this checkout")
    block = re.search(r"## The model config.*?```yaml\n(.*?)```", DESIGN.read_text(), re.S).group(1)
    config = parse_config(block)
    assert validate_for_dataset(config, DIGITS, allowed_pretrain={"digits-0to4"}) == []


def test_json_and_yaml_give_the_same_config():
    data = yaml.safe_load(DESIGN_EXAMPLE)
    assert parse_config(json.dumps(data)) == parse_config(DESIGN_EXAMPLE)
    assert load_config(data) == parse_config(DESIGN_EXAMPLE)
    assert parse_config(DESIGN_EXAMPLE.encode()) == parse_config(DESIGN_EXAMPLE)


def test_shorthands_equal_the_long_forms():
    short = parse_config(
        "version: 1\nmodel: {layers: [dropout: 0.3, relu, flatten, batchnorm, linear: 5, max_pool: 3]}\n"
    )
    long = parse_config(
        "version: 1\nmodel: {layers: [dropout: {p: 0.3}, activation: {name: relu}, flatten: {}, batchnorm: null,"
        " linear: {units: 5}, max_pool: {kernel: 3}]}\n"
    )
    assert short == long


def test_yaml_exponent_without_dot_is_a_number():
    # PyYAML reads 1e-3 as a string; the schema must still accept it as a learning rate.
    config = parse_config(
        "version: 1\nmodel: {layers: [linear: auto]}\ntrain: {optimizer: {name: adam, lr: 1e-3}}\n"
    )
    assert config.train.optimizer.lr == pytest.approx(0.001)


def test_defaults():
    config = parse_config("version: 1\nmodel: {layers: [linear: auto]}\n")
    assert config.seed == 0 and config.model.init.name == "default"
    assert (
        config.train.epochs == 10
        and config.train.optimizer.name == "adam"
        and config.train.scheduler.name == "constant"
    )
    assert config.train.precision == "fp32" and config.pretrain is None and config.finetune is None


def test_finetune_mode_rules():
    base = "version: 1\nmodel: {layers: [linear: 8, relu, linear: auto]}\npretrain: {dataset: a}\n"
    assert parse_config(base + "finetune: {mode: head}\n").finetune.effective_freeze == "backbone"
    full = parse_config(base + "finetune: {}\n").finetune
    assert (
        full.effective_mode == "full" and full.effective_freeze == "none" and full.effective_adapter is None
    )
    lora = parse_config(base + "finetune: {mode: lora}\n").finetune
    assert lora.effective_adapter.rank == 4 and lora.effective_freeze == "backbone"
    assert parse_config(base + "finetune: {freeze: [0]}\n").finetune.effective_freeze == [0]


def test_configs_are_immutable():
    config = parse_config(DESIGN_EXAMPLE)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        config.seed = 3


# conv 1->32 k3, bn, residual (conv 32->32 k3, bn, conv 32->32 k3), separable (depthwise 32 k3, pointwise 32->64), head 64->10
EXPECTED_PARAMS = (
    (32 * 9 + 32)
    + 64
    + (32 * 32 * 9 + 32)
    + 64
    + (32 * 32 * 9 + 32)
    + 32 * 9
    + (32 * 64 + 64)
    + (64 * 10 + 10)
)


def test_valid_config_has_no_dataset_problems_and_counts_parameters_within_budget():
    config = parse_config(DESIGN_EXAMPLE)
    assert (
        validate_for_dataset(
            config, DIGITS, budget=Budget(epochs=20, params=10**6), allowed_pretrain={"digits-0to4"}
        )
        == []
    )
    problems = validate_for_dataset(
        config, DIGITS, budget=Budget(params=1000), allowed_pretrain={"digits-0to4"}
    )
    assert [str(p) for p in problems] == [
        f"model: has {EXPECTED_PARAMS:,} parameters, more than the budget of 1,000"
    ]


def test_n_outputs():
    assert n_outputs_for(DIGITS) == 10
    assert n_outputs_for({"task_type": "regression"}) == 1
    assert n_outputs_for({"task_type": "classification", "classes": ["no", "yes"]}) == 2


def test_json_schema_validates_the_same_configs():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load(DESIGN_EXAMPLE))
    validator.validate(
        {"version": 1, "model": {"layers": ["flatten", "relu", {"linear": {"units": "auto"}}]}}
    )
    shorthands = {
        "version": 1,
        "model": {
            "init": "orthogonal",
            "layers": [{"dropout": 0.2}, {"batchnorm": None}, {"linear": "auto"}],
        },
        "train": {"optimizer": "sgd", "scheduler": "one_cycle"},
    }
    validator.validate(shorthands)
    load_config(shorthands)
    for bad in (
        {"version": 1, "model": {"layers": [{"conv2d": {"channels": 8, "kernel": 9}}]}},
        {"version": 1, "model": {"layers": [{"conv3d": {}}]}},
        {"version": 1, "model": {"layers": [{"linear": "auto"}]}, "extra": 1},
        {"version": 2, "model": {"layers": [{"linear": "auto"}]}},
    ):
        assert not validator.is_valid(bad), bad
        with pytest.raises(ConfigError):
            load_config(bad)


def test_json_schema_lists_every_technique():
    text = json.dumps(json_schema())
    for (family, name), _ in techniques.REGISTRY.items():
        if family != "adapter":
            assert f'"{name}"' in text, name


def test_catalog_has_every_required_technique_with_why_and_defaults():
    catalog = {(t["family"], t["name"]): t for t in techniques_catalog()}
    required = {
        "activation": ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu"],
        "init": ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal", "default"],
        "layer": [
            "linear",
            "conv1d",
            "conv2d",
            "separable_conv2d",
            "lstm",
            "gru",
            "batchnorm",
            "layernorm",
            "dropout",
            "max_pool",
            "avg_pool",
            "max_pool1d",
            "max_pool2d",
            "avg_pool1d",
            "avg_pool2d",
            "global_avg_pool",
            "flatten",
            "residual",
            "transformer_encoder",
        ],
        "optimizer": ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"],
        "scheduler": ["constant", "step", "exponential", "cosine", "one_cycle", "warmup_cosine"],
        "adapter": ["lora"],
    }
    for family, names in required.items():
        for name in names:
            entry = catalog[(family, name)]
            assert entry["why"] and len(entry["why"].splitlines()) == 1
    assert catalog[("layer", "conv2d")]["parameters"]["kernel"]["default"] == 3
    assert catalog[("layer", "conv2d")]["parameters"]["kernel"]["maximum"] == 7
    assert catalog[("layer", "conv2d")]["parameters"]["channels"]["required"] is True
    assert catalog[("init", "he_normal")]["parameters"]["mode"]["default"] == "fan_in"
    assert catalog[("adapter", "lora")]["parameters"]["targets"]["default"] == ["linear"]
    json.dumps(techniques_catalog())  # served as JSON by the API


def test_model_config_type_is_exported():
    assert isinstance(parse_config(DESIGN_EXAMPLE), ModelConfig)


def test_dumped_config_loads_back_identically():
    # The web tier stores model_dump(mode="json"); the worker loads it back.
    config = parse_config(DESIGN_EXAMPLE)
    data = json.loads(json.dumps(config.model_dump(mode="json")))
    assert load_config(data) == config
    assert parse_config(json.dumps(data)) == config


def test_budget_is_the_wire_shape_and_refuses_unknown_keys():
    config = parse_config("version: 1\nmodel: {layers: [linear: auto]}\ntrain: {epochs: 30}\n")
    expected = ["train.epochs: must be <= 20 (the competition's budget)"]
    for budget in (Budget(epochs=20), Budget.from_dict({"epochs": 20, "seconds": 60})):
        assert [str(p) for p in validate_for_dataset(config, DIGITS, budget=budget)] == expected
    with pytest.raises(ValueError, match="unknown budget keys: epoch"):
        validate_for_dataset(config, DIGITS, budget=Budget.from_dict({"epoch": 20}))


def test_pretrain_dataset_must_share_the_input_shape():
    config = parse_config(DESIGN_EXAMPLE)
    tabular = {
        "slug": "digits-0to4",
        "task_type": "classification",
        "input_shape": [64],
        "classes": ["0", "1"],
    }
    problems = validate_for_dataset(config, DIGITS, allowed_pretrain={"digits-0to4": tabular})
    assert [str(p) for p in problems] == [
        "pretrain.dataset: 'digits-0to4' has input [64] but 'digits' has [1,8,8]; pre-training needs the same input shape"
    ]
    same = dict(tabular, input_shape=[1, 8, 8])
    assert validate_for_dataset(config, DIGITS, allowed_pretrain={"digits-0to4": same}) == []

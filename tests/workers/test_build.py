"""The model builder: every layer technique builds, runs a forward and backward
pass with the inferred output shape, and its pure-Python parameter count is exact."""

from __future__ import annotations

import math

import pytest
import torch

from workers import techniques
from workers.build import (
    build_model,
    gradient_norms,
    layer_names,
    layer_of,
    parameters_by_layer,
)
from workers.spec import ConfigError, count_parameters, output_shape, parse_config

torch.set_num_threads(1)

TAB, SEQ, IMG = (6,), (3, 12), (2, 8, 8)

# (id, layers as a YAML flow list, input shape, outputs, expected output shape)
CASES = [
    ("linear", "[linear: 16, linear: auto]", TAB, 3, (3,)),
    ("linear-implicit-flatten", "[linear: auto]", IMG, 4, (4,)),
    ("flatten", "[flatten, linear: auto]", IMG, 4, (4,)),
    (
        "activations",
        "[linear: 8, sigmoid, tanh, relu, activation: {name: leaky_relu, negative_slope: 0.2},"
        " activation: {name: elu, alpha: 0.5}, gelu, silu, linear: auto]",
        TAB,
        2,
        (2,),
    ),
    ("dropout", "[dropout: 0.3, linear: auto]", TAB, 2, (2,)),
    ("batchnorm-1d-tabular", "[linear: 8, batchnorm, linear: auto]", TAB, 2, (2,)),
    (
        "batchnorm-1d-sequence",
        "[conv1d: {channels: 4}, batchnorm, global_avg_pool, linear: auto]",
        SEQ,
        2,
        (2,),
    ),
    ("batchnorm-2d", "[conv2d: {channels: 4}, batchnorm, global_avg_pool, linear: auto]", IMG, 2, (2,)),
    ("layernorm-tabular", "[linear: 8, layernorm, linear: auto]", TAB, 2, (2,)),
    ("layernorm-image", "[conv2d: {channels: 4}, layernorm, global_max_pool, linear: auto]", IMG, 2, (2,)),
    (
        "conv1d-valid-stride",
        "[conv1d: {channels: 5, kernel: 5, stride: 2, padding: valid}, flatten, linear: auto]",
        SEQ,
        2,
        (2,),
    ),
    (
        "conv2d-stride",
        "[conv2d: {channels: 4, kernel: 3, stride: 2}, conv2d: {channels: 6, kernel: 3, padding: valid}, linear: auto]",
        IMG,
        3,
        (3,),
    ),
    (
        "separable-conv2d",
        "[separable_conv2d: {channels: 8, kernel: 3, stride: 2, multiplier: 2}, global_avg_pool, linear: auto]",
        IMG,
        3,
        (3,),
    ),
    (
        "pooling-2d",
        "[max_pool: 2, avg_pool: {kernel: 2, stride: 1}, max_pool2d, avg_pool2d: 1, linear: auto]",
        IMG,
        2,
        (2,),
    ),
    ("pooling-1d", "[max_pool, avg_pool: 3, max_pool1d, avg_pool1d: 1, linear: auto]", SEQ, 2, (2,)),
    ("global-pools", "[global_avg_pool, linear: auto]", SEQ, 2, (2,)),
    ("lstm-last", "[lstm: {hidden: 7, layers: 2, dropout: 0.1}, linear: auto]", SEQ, 2, (2,)),
    (
        "lstm-sequence-bidirectional",
        "[lstm: {hidden: 5, bidirectional: true, output: sequence}, conv1d: {channels: 4}, "
        "global_avg_pool, linear: auto]",
        SEQ,
        2,
        (2,),
    ),
    ("gru", "[gru: 6, linear: auto]", SEQ, 1, (1,)),
    (
        "residual-identity",
        "[conv2d: {channels: 4}, residual: [conv2d: {channels: 4}, batchnorm, relu], linear: auto]",
        IMG,
        2,
        (2,),
    ),
    (
        "residual-projection-stride",
        "[residual: [conv2d: {channels: 6, stride: 2}, relu, conv2d: {channels: 6}], "
        "global_avg_pool, linear: auto]",
        IMG,
        2,
        (2,),
    ),
    ("residual-tabular-projection", "[residual: [linear: 9, relu], linear: auto]", TAB, 2, (2,)),
    (
        "residual-sequence",
        "[residual: [conv1d: {channels: 3}, relu], residual: [conv1d: {channels: 5, stride: 3}], "
        "global_avg_pool, linear: auto]",
        SEQ,
        2,
        (2,),
    ),
    (
        "residual-nested",
        "[conv2d: {channels: 4}, residual: [residual: [conv2d: {channels: 4}], relu], linear: auto]",
        IMG,
        2,
        (2,),
    ),
    (
        "transformer-image",
        "[transformer_encoder: {d_model: 16, heads: 4, depth: 2, patch: 4, dropout: 0.1}, linear: auto]",
        IMG,
        3,
        (3,),
    ),
    (
        "transformer-tabular-cls",
        "[transformer_encoder: {d_model: 8, heads: 2, depth: 1, pool: cls}, linear: auto]",
        TAB,
        2,
        (2,),
    ),
    (
        "transformer-sequence-tokens",
        "[transformer_encoder: {d_model: 8, heads: 2, depth: 1, pool: none}, lstm: 4, linear: auto]",
        SEQ,
        2,
        (2,),
    ),
    ("regression-head", "[linear: 8, relu, linear: auto]", TAB, 1, (1,)),
    (
        "attention-pool-sequence",
        "[conv1d: {channels: 4}, attention_pool: {heads: 2}, linear: auto]",
        SEQ,
        2,
        (2,),
    ),
    ("attention-pool-image", "[conv2d: {channels: 3}, attention_pool, linear: auto]", IMG, 3, (3,)),
]


def config_for(layers: str, init: str = "default", seed: int = 0):
    return parse_config(f"version: 1\nseed: {seed}\nmodel:\n  init: {init}\n  layers: {layers}\n")


# Discrete input (the manifest's `inputs`): token ids of a text, a table's category codes.
TOKENS = {"kind": "tokens", "vocab_size": 30, "max_length": 10, "pad_id": 0}
CATEGORIES = {"kind": "tabular", "categorical": {"c": {"index": 2, "categories": ["x", "y", "z"]}}}
DISCRETE_CASES = [
    ("embedding-lstm", "[embedding: 8, lstm: 4, linear: auto]", (10,), TOKENS, (3,)),
    ("embedding-categorical", "[embedding: {dim: 3}, relu, linear: auto]", (5,), CATEGORIES, (3,)),
]


@pytest.mark.parametrize(
    ("layers", "shape", "inputs", "expected"),
    [c[1:] for c in DISCRETE_CASES],
    ids=[c[0] for c in DISCRETE_CASES],
)
def test_discrete_input_builds_and_runs(layers, shape, inputs, expected):
    config = config_for(layers)
    model = build_model(config, shape, 3, inputs=inputs)
    x = torch.randint(0, 4, (6, *shape)).float()  # ids and codes arrive as float tensors
    y = model(x)
    assert tuple(y.shape) == (6, *expected)
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert count_parameters(config, shape, 3, inputs=inputs) == sum(p.numel() for p in model.parameters())


def test_embedding_without_discrete_input_is_refused_with_its_path():
    with pytest.raises(ConfigError) as e:
        output_shape(config_for("[embedding: 8, linear: auto]"), (4,), 2)
    assert "needs text (token ids) or categorical columns" in str(e.value)
    with pytest.raises(ConfigError) as e:
        output_shape(config_for("[linear: 10, embedding: 8, linear: auto]"), (10,), 2, inputs=TOKENS)
    assert "must be the first layer" in str(e.value)


def test_every_layer_technique_has_a_build_case():
    used = set()
    for _, layers, *_ in CASES + DISCRETE_CASES:
        used.update(
            item.technique
            for _, _, item in __import__("workers.spec").spec.iter_layers(config_for(layers).model.layers)
        )
    assert set(techniques.family("layer")) <= used


@pytest.mark.parametrize(
    ("layers", "shape", "n_out", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_layer_builds_and_runs(layers, shape, n_out, expected):
    config = config_for(layers)
    assert output_shape(config, shape, n_out) == expected
    model = build_model(config, shape, n_out)
    x = torch.randn(3, *shape)
    y = model(x)
    assert tuple(y.shape) == (3, *expected)
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters()), (
        "every parameter takes part in the forward pass"
    )
    assert count_parameters(config, shape, n_out) == sum(p.numel() for p in model.parameters())
    model.eval()
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize(
    "init",
    [
        "default",
        "xavier_uniform",
        "xavier_normal",
        "he_uniform",
        "he_normal",
        "orthogonal",
        "{name: he_normal, mode: fan_out}",
    ],
)
def test_same_seed_same_model_and_global_rng_untouched(init):
    config = config_for(
        "[conv2d: {channels: 4}, relu, residual: [conv2d: {channels: 4}], linear: 16, linear: auto]",
        init,
        seed=7,
    )
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(config, IMG, 3)
    after = torch.rand(1)
    b = build_model(config, IMG, 3)
    assert torch.equal(before, after), "building must not consume the caller's random numbers"
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    other = build_model(
        config_for(
            "[conv2d: {channels: 4}, relu, residual: [conv2d: {channels: 4}], linear: 16, linear: auto]",
            init,
            seed=8,
        ),
        IMG,
        3,
    )
    assert not torch.equal(a.layers[0].conv2d.weight, other.layers[0].conv2d.weight)


def test_initialisers_give_their_variance():
    layers = "[linear: 512, linear: auto]"
    fan_in, fan_out = 400, 512

    def weight(init):
        return build_model(config_for(layers, init), (fan_in,), 2).layers[0].linear

    he = weight("he_normal")
    assert he.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert torch.count_nonzero(he.bias) == 0
    assert weight("{name: he_normal, mode: fan_out}").weight.std().item() == pytest.approx(
        math.sqrt(2 / fan_out), rel=0.05
    )
    assert weight("he_uniform").weight.abs().max().item() <= math.sqrt(6 / fan_in) + 1e-6
    assert weight("xavier_normal").weight.std().item() == pytest.approx(
        math.sqrt(2 / (fan_in + fan_out)), rel=0.05
    )
    assert weight("xavier_uniform").weight.abs().max().item() <= math.sqrt(6 / (fan_in + fan_out)) + 1e-6
    q = weight("orthogonal").weight  # 512 x 400: orthonormal columns
    assert torch.allclose(q.T @ q, torch.eye(fan_in), atol=1e-4)
    default = weight("default")
    assert default.weight.abs().max().item() <= 1 / math.sqrt(fan_in) + 1e-6
    assert torch.count_nonzero(default.bias) > 0, "default keeps torch's own bias init"


def test_count_parameters_allocates_nothing():
    # ~ 100 million parameters: counted in pure Python, nothing built.
    config = config_for("[linear: 8192, linear: 4096, linear: auto]")
    n = count_parameters(config, (3, 64, 64), 10)
    assert n == (12288 * 8192 + 8192) + (8192 * 4096 + 4096) + (4096 * 10 + 10)


def test_build_refuses_a_shape_it_cannot_take():
    with pytest.raises(ConfigError) as info:
        build_model(config_for("[conv2d: {channels: 4}, linear: auto]"), TAB, 2)
    assert [str(p) for p in info.value.problems] == [
        "model.layers[0].conv2d: needs image input, dataset 'the dataset' is tabular"
    ]


def test_parameters_are_named_by_layer():
    config = config_for(
        "[conv2d: {channels: 4}, batchnorm, relu, residual: [conv2d: {channels: 6, stride: 2}], "
        "separable_conv2d: {channels: 4}, global_avg_pool, linear: auto]"
    )
    model = build_model(config, IMG, 2)
    names = layer_names(model)
    assert names["layers.0.conv2d.weight"] == "layers.0.conv2d"
    assert names["layers.1.batchnorm.bias"] == "layers.1.batchnorm"
    assert names["layers.3.residual.block.0.conv2d.weight"] == "layers.3.residual.block.0.conv2d"
    assert names["layers.3.residual.projection.weight"] == "layers.3.residual"
    assert names["layers.4.separable_conv2d.depthwise.weight"] == "layers.4.separable_conv2d"
    assert names["layers.6.linear.weight"] == "layers.6.linear"
    assert list(parameters_by_layer(model)) == [
        "layers.0.conv2d",
        "layers.1.batchnorm",
        "layers.3.residual.block.0.conv2d",
        "layers.3.residual",
        "layers.4.separable_conv2d",
        "layers.6.linear",
    ]
    assert layer_of("layers.2.linear.lora_A") == "layers.2.linear"


def test_gradient_norms_show_vanishing_gradients_in_a_deep_sigmoid_net():
    deep = "[" + ", ".join(["linear: 32, sigmoid"] * 8) + ", linear: auto]"
    model = build_model(config_for(deep, "xavier_normal"), (16,), 2)
    x, y = torch.randn(64, 16), torch.randint(0, 2, (64,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    norms = gradient_norms(model)
    assert list(norms)[0] == "layers.0.linear" and len(norms) == 9
    assert norms["layers.0.linear"] < norms["layers.14.linear"] / 100

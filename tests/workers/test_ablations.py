"""Ablation variants (workers/ablations.py): each family on the examples that have it, every
derived config valid and different from the original in its one technique only, stable unique
keys, no family where it does not apply, the picked keys checked; random valid configs through
hypothesis. No torch here: the web tier derives these (test_ablations_train.py trains them)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets.catalog import build as build_bundle
from workers.ablations import (
    ABLATION_TECHNIQUES,
    AblationVariant,
    ablation_base,
    ablation_variants,
    variant_by_key,
    variants_by_keys,
)
from workers.spec import (
    ConfigError,
    count_parameters,
    load_config,
    n_outputs_for,
    parse_config,
    validate_for_dataset,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
KEY = re.compile(r"^[a-z]+:[a-z0-9_.-]+$")  # URL- and shell-safe as it is


def example(name: str) -> dict:
    return parse_config((ROOT / "examples" / f"{name}.yaml").read_text(encoding="utf-8")).model_dump(
        mode="json"
    )


def by_key(config: dict, **kw) -> dict[str, AblationVariant]:
    return {v.key: v for v in ablation_variants(config, **kw)}


def keys_of(config: dict, technique: str, **kw) -> list[str]:
    return [v.key for v in ablation_variants(config, **kw) if v.technique == technique]


def layers(config: dict, name: str) -> list[dict]:
    """Every layer of that name, nested ones included, in order."""
    out = []

    def walk(items):
        for item in items:
            ((kind, params),) = item.items()
            if kind == name:
                out.append(params)
            if kind == "residual":
                walk(params)

    walk(config["model"]["layers"])
    return out


# ---------------------------------------------------------------- "the rest": what a technique may not touch


def _strip_layers(items: list[dict], drop: set[str], flatten: bool = False) -> list:
    out = []
    for item in items:
        ((kind, params),) = item.items()
        if kind in drop:
            continue
        if kind == "residual":
            inner = _strip_layers(params, drop, flatten)
            out.extend(inner) if flatten else out.append({"residual": inner})
        else:
            out.append(copy.deepcopy(item))
    return out


def rest(config: dict, technique: str) -> dict:
    """The config with what `technique` may change taken out: two configs a variant of that
    technique separates must agree on everything this leaves."""
    data = copy.deepcopy(config)
    model, train = data["model"], data["train"]
    if technique == "activation":
        model["layers"] = _strip_layers(model["layers"], {"activation"})
    elif technique == "batchnorm":
        model["layers"] = _strip_layers(model["layers"], {"batchnorm"})
    elif technique == "residual":
        model["layers"] = _strip_layers(model["layers"], set(), flatten=True)
        model["zero_init_residual"] = None
    elif technique == "init":
        model["init"] = model["zero_init_residual"] = None
    elif technique == "optimizer":
        train["optimizer"] = None
    elif technique == "dropout":
        model["layers"] = _strip_layers(model["layers"], {"dropout"})
        for name in ("transformer_encoder", "lstm", "gru"):
            for params in layers(data, name):
                params["dropout"] = None
        if (data.get("finetune") or {}).get("adapter"):
            data["finetune"]["adapter"]["dropout"] = None
    elif technique == "scheduler":
        train["scheduler"] = None
    elif technique == "separable":
        for item in _all_items(model["layers"]):
            if "separable_conv2d" in item:
                params = item.pop("separable_conv2d")
                params.pop("multiplier")
                item["conv2d"] = params
    elif technique == "finetune":
        data["pretrain"] = data["finetune"] = None
    elif technique == "augment":
        train["augment"] = None
    else:
        raise AssertionError(technique)
    if technique in ("batchnorm", "residual", "dropout") and data.get("finetune"):
        data["finetune"]["freeze"] = (
            None  # indices follow their layers: test_freeze_indices_follow_their_layers
        )
    return data


def _all_items(items: list[dict]):
    for item in items:
        yield item
        if "residual" in item:
            yield from _all_items(item["residual"])


def check_variants(config: dict, **kw) -> list:
    """The invariants every config's variants keep; returns them."""
    variants = ablation_variants(config, **kw)
    original = ablation_base(config, sweep_variant=kw.get("sweep_variant"))
    keys = [v.key for v in variants]
    assert len(keys) == len(set(keys)), keys
    order = [ABLATION_TECHNIQUES.index(v.technique) for v in variants]
    assert order == sorted(order), keys
    seen = [original]
    for v in variants:
        assert KEY.match(v.key) and v.key.split(":")[0] == v.technique, v.key
        assert v.change and "\n" not in v.change
        # Valid, and already normalised as the intake stores a config.
        assert load_config(v.config).model_dump(mode="json") == v.config, v.key
        assert v.config not in seen, v.key  # none equal to the original or to another
        seen.append(v.config)
        assert rest(v.config, v.technique) == rest(original, v.technique), v.key
    assert [v.key for v in ablation_variants(config, **kw)] == keys  # stable
    return variants


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_examples_variants_are_valid_distinct_and_change_one_technique(path):
    config = parse_config(path.read_text(encoding="utf-8")).model_dump(mode="json")
    variants = check_variants(config)
    assert variants, "every example has something to ablate"


def test_the_same_config_in_any_form_gives_the_same_variants():
    """As written (shorthands, bare names), as the intake stores it, or parsed: one list."""
    text = (ROOT / "examples" / "deep_residual_mlp.yaml").read_text(encoding="utf-8")
    written = ablation_variants(yaml.safe_load(text))
    assert ablation_variants(parse_config(text)) == written
    assert ablation_variants(parse_config(text).model_dump(mode="json")) == written


# ---------------------------------------------------------------- the families, on the examples


def test_activation_swaps_every_activation_for_each_other_one():
    variants = by_key(example("digits_cnn"))
    assert keys_of(example("digits_cnn"), "activation") == [
        "activation:sigmoid",
        "activation:tanh",
        "activation:gelu",
    ]
    sigmoid = variants["activation:sigmoid"]
    assert sigmoid.change == "ReLU → sigmoid in 3 layers"
    assert [p["name"] for p in layers(sigmoid.config, "activation")] == ["sigmoid"] * 3

    deep = by_key(example("deep_sigmoid_mlp"))
    assert "activation:sigmoid" not in deep
    assert [p["name"] for p in layers(deep["activation:relu"].config, "activation")] == ["relu"] * 10
    # Inside residual blocks too.
    residual = by_key(example("deep_residual_mlp"))["activation:tanh"].config
    assert [p["name"] for p in layers(residual, "activation")] == ["tanh"] * 15


def test_activation_of_a_mixed_config_says_what_each_was():
    config = example("breast_cancer_mlp")
    config["model"]["layers"][4] = {"activation": {"name": "leaky_relu", "negative_slope": 0.1}}
    variants = by_key(config)
    assert variants["activation:relu"].change == "leaky ReLU → ReLU in 1 layer; the other 1 already ReLU"
    assert variants["activation:gelu"].change == "ReLU → GELU in 1 layer; leaky ReLU → GELU in 1 layer"


def test_batchnorm_one_variant_per_layer_nested_ones_included_and_one_removing_all():
    config = example("residual_cnn")
    assert keys_of(config, "batchnorm") == [
        "batchnorm:remove-1",
        "batchnorm:remove-3.1",
        "batchnorm:remove-3.4",
        "batchnorm:remove-5.1",
        "batchnorm:remove-5.4",
        "batchnorm:remove-all",
    ]
    variants = by_key(config)
    nested = variants["batchnorm:remove-3.4"]
    assert (
        nested.change
        == "the BatchNorm at model.layers[3].residual[4] (after conv2d 32) removed, the other 4 BatchNorms kept"
    )
    block = nested.config["model"]["layers"][3]["residual"]
    assert [next(iter(item)) for item in block] == ["conv2d", "batchnorm", "activation", "conv2d"]
    assert layers(variants["batchnorm:remove-all"].config, "batchnorm") == []
    assert len(layers(example("deep_relu_bn_mlp"), "batchnorm")) == 10
    assert len(keys_of(example("deep_relu_bn_mlp"), "batchnorm")) == 11


def test_a_single_batchnorm_gets_no_separate_remove_all():
    config = example("digits_cnn")
    config["model"]["layers"].insert(1, {"batchnorm": {}})
    assert keys_of(config, "batchnorm") == ["batchnorm:remove-1"]


def test_a_batchnorm_alone_in_its_residual_block_stays():
    config = example("deep_relu_bn_mlp")
    config["model"]["layers"][1:2] = [{"residual": [{"batchnorm": {}}]}]
    keys = keys_of(config, "batchnorm")
    assert "batchnorm:remove-1.0" not in keys and "batchnorm:remove-all" in keys
    everything = by_key(config)["batchnorm:remove-all"]
    assert layers(everything.config, "batchnorm") == [{"momentum": 0.1, "eps": 1e-5}]
    assert "1 BatchNorm alone in a residual block kept" in everything.change


def test_residual_skips_removed_keep_the_blocks_layers():
    config = example("residual_cnn")
    (variant,) = [v for v in ablation_variants(config) if v.technique == "residual"]
    assert variant.key == "residual:remove-skips"
    assert layers(variant.config, "residual") == []
    assert len(variant.config["model"]["layers"]) == 9 - 2 + 10
    assert len(layers(variant.config, "conv2d")) == len(layers(config, "conv2d")) == 5

    deep = by_key(example("deep_residual_mlp"))["residual:remove-skips"]
    assert deep.config["model"]["zero_init_residual"] is False  # nothing left to start at zero
    assert "zero_init_residual" in deep.change


def test_init_chosen_default_and_badly_scaled():
    variants = by_key(example("digits_cnn"))
    assert keys_of(example("digits_cnn"), "init") == [
        "init:default",
        "init:xavier_normal",
        "init:badly-scaled",
    ]
    assert variants["init:default"].config["model"]["init"] == {"name": "default"}
    assert variants["init:badly-scaled"].config["model"]["init"] == {"name": "xavier_normal", "gain": 0.1}
    # Without an init of its own, the one that suits its activations.
    assert keys_of(example("text_lstm"), "init") == ["init:he_normal", "init:badly-scaled"]
    sigmoid = example("deep_sigmoid_mlp")
    sigmoid["model"]["init"] = {"name": "default"}
    assert keys_of(sigmoid, "init") == ["init:xavier_normal", "init:badly-scaled"]
    # Residual blocks: zero_init_residual both ways.
    assert "init:zero-residual-off" in keys_of(example("deep_residual_mlp"), "init")
    assert "init:zero-residual-on" in keys_of(example("residual_cnn"), "init")


def test_optimizer_swaps_at_each_ones_customary_rate_and_says_which():
    config = example("digits_cnn")
    assert keys_of(config, "optimizer") == ["optimizer:sgd", "optimizer:momentum", "optimizer:rmsprop"]
    variants = by_key(config)
    momentum = variants["optimizer:momentum"]
    assert momentum.config["train"]["optimizer"]["name"] == "momentum"
    assert momentum.config["train"]["optimizer"]["lr"] == 0.01
    assert momentum.config["train"]["optimizer"]["momentum"] == 0.9
    assert momentum.change == "Adam (lr 0.003) → SGD with momentum 0.9 (lr 0.01, its customary rate)"
    assert variants["optimizer:sgd"].config["train"]["optimizer"]["lr"] == 0.1
    assert variants["optimizer:rmsprop"].config["train"]["optimizer"]["lr"] == 0.001
    # Weight decay and clipping are kept, and said so.
    adamw = by_key(example("transformer_digits"))["optimizer:adam"]
    assert adamw.config["train"]["optimizer"]["weight_decay"] == 0.05
    assert adamw.change.endswith("weight decay 0.05 kept")
    clipped = by_key(example("text_lstm"))["optimizer:sgd"]
    assert clipped.config["train"]["optimizer"]["grad_clip"] == 1.0
    assert keys_of(example("deep_sigmoid_mlp"), "optimizer") == [
        "optimizer:adam",
        "optimizer:sgd",
        "optimizer:rmsprop",
    ]


def test_dropout_off_and_on():
    off = by_key(example("digits_cnn"))["dropout:off"]
    assert (
        layers(off.config, "dropout") == [] and off.change == "dropout off: 1 dropout layer (p 0.25) removed"
    )
    transformer = by_key(example("transformer_digits"))["dropout:off"]
    assert layers(transformer.config, "transformer_encoder")[0]["dropout"] == 0.0
    assert transformer.change == "dropout off: the Transformer's dropout 0.1 set to 0"
    # A stacked LSTM's dropout, LoRA's, and a dropout layer alone in a residual block (kept at p 0).
    lstm = example("text_lstm")
    lstm["model"]["layers"][1] = {"lstm": {"hidden": 16, "layers": 2, "dropout": 0.3}}
    lstm["model"]["layers"].insert(1, {"residual": [{"dropout": {"p": 0.2}}]})
    lstm["pretrain"] = {"dataset": "sentiment-structure"}
    lstm["finetune"] = {"adapter": {"dropout": 0.1}}
    off = by_key(lstm)["dropout:off"]
    assert off.change == (
        "dropout off: 1 dropout layer (p 0.2) removed; the LSTM's dropout 0.3 set to 0; "
        "the LoRA adapters' dropout 0.1 set to 0"
    )
    assert layers(off.config, "lstm")[0]["dropout"] == 0.0
    assert layers(off.config, "dropout") == [{"p": 0.0}]
    assert off.config["finetune"]["adapter"]["dropout"] == 0.0
    # Dropout layers at p 0 are dropout off already: on sets them to p 0.5.
    silent = example("digits_cnn")
    silent["model"]["layers"][6] = {"dropout": {"p": 0.0}}
    assert keys_of(silent, "dropout") == ["dropout:on"]
    assert layers(by_key(silent)["dropout:on"].config, "dropout") == [{"p": 0.5}]
    assert keys_of(example("deep_sigmoid_mlp"), "dropout") == ["dropout:on"]
    on = by_key(example("deep_sigmoid_mlp"))["dropout:on"].config["model"]["layers"]
    assert on[-2:] == [{"dropout": {"p": 0.5}}, {"linear": {"units": "auto", "bias": True, "init": None}}]


def test_scheduler_off_and_on():
    off = by_key(example("digits_cnn"))["scheduler:off"]
    assert off.config["train"]["scheduler"] == {"name": "constant"}
    assert off.change == "the cosine schedule → a constant learning rate of 0.003"
    on = by_key(example("deep_sigmoid_mlp"))["scheduler:on"]
    assert on.config["train"]["scheduler"]["name"] == "cosine"
    assert by_key(example("pretrain_lora_digits"))["scheduler:off"].change.endswith(
        "pre-training follows it too"
    )


DIGITS = build_bundle("digits").manifest
TABLE = {"slug": "table", "task_type": "classification", "input_shape": [16], "classes": ["a", "b", "c"]}


def params_of(config: dict, manifest=DIGITS) -> int:
    return count_parameters(load_config(config), manifest["input_shape"], n_outputs_for(manifest))


def test_separable_to_plain_and_back():
    separable = example("separable_cnn")
    variants = by_key(separable)
    plain = variants["separable:to-conv2d"]
    assert layers(plain.config, "separable_conv2d") == [] and len(layers(plain.config, "conv2d")) == 3
    assert params_of(plain.config) > 3 * params_of(separable)  # what separating saves
    cnn = by_key(example("digits_cnn"))["separable:to-separable"]
    # The first convolution stays plain (one input channel: nothing to separate).
    assert [next(iter(item)) for item in cnn.config["model"]["layers"][:3:2]] == [
        "conv2d",
        "separable_conv2d",
    ]
    assert params_of(cnn.config) < params_of(example("digits_cnn"))
    assert keys_of(example("deep_relu_bn_mlp"), "separable") == []


def test_finetune_lora_full_head_and_scratch():
    config = example("pretrain_lora_digits")
    assert keys_of(config, "finetune") == ["finetune:full", "finetune:head", "finetune:scratch"]
    variants = by_key(config)
    full = load_config(variants["finetune:full"].config).finetune
    assert (full.effective_mode, full.effective_freeze, full.effective_adapter) == ("full", "none", None)
    head = load_config(variants["finetune:head"].config).finetune
    assert head.effective_mode == "head"
    scratch = variants["finetune:scratch"].config
    assert scratch["pretrain"] is None and scratch["finetune"] is None
    assert "pre-trained on digits" in variants["finetune:scratch"].change
    # From full fine-tuning, LoRA on the kinds of layer the backbone has.
    full_config = variants["finetune:full"].config
    lora = by_key(full_config)["finetune:lora"]
    adapter = load_config(lora.config).finetune.effective_adapter
    assert (adapter.rank, adapter.alpha, adapter.targets) == (8, 16.0, ["linear", "conv2d"])
    assert keys_of(example("digits_cnn"), "finetune") == []


def test_finetune_from_an_earlier_entry_keeps_its_starting_point():
    config = example("digits_cnn")
    config["finetune"] = {"mode": "head", "from_submission": 42}
    variants = by_key(config)
    assert keys_of(config, "finetune") == ["finetune:lora", "finetune:full", "finetune:scratch"]
    assert variants["finetune:full"].config["finetune"]["from_submission"] == 42
    assert variants["finetune:scratch"].config["finetune"] is None
    assert variants["finetune:scratch"].change.endswith("not from entry 42's weights")


def test_augment_off_and_on_only_for_images():
    off = by_key(example("shapes_cnn_augment"))["augment:off"]
    assert off.config["train"]["augment"] is None
    assert off.change == "augmentation off: no crop, flip or test-time flips"
    on = by_key(example("digits_cnn"))["augment:on"].config["train"]["augment"]
    assert (on["crop"], on["flip"]) == ({"padding": 1}, {"p": 0.5})
    # Text and tables get none; an MLP on images only when the manifest says images.
    assert keys_of(example("text_lstm"), "augment") == []
    assert keys_of(example("transformer_digits"), "augment") == []
    assert keys_of(example("transformer_digits"), "augment", manifest=DIGITS) == ["augment:on"]
    shapes = {
        "slug": "shapes-32",
        "task_type": "classification",
        "input_shape": [3, 32, 32],
        "classes": list("abcdefghij"),
    }
    wide = by_key(example("digits_cnn"), manifest=shapes)["augment:on"]
    assert wide.config["train"]["augment"]["crop"] == {"padding": 4}  # an eighth of 32 pixels
    assert keys_of(example("digits_cnn"), "augment", manifest=TABLE) == []


def test_a_config_with_none_of_a_family_gets_none_of_it():
    techniques = {v.technique for v in ablation_variants(example("text_lstm"))}
    assert techniques == {"init", "optimizer", "dropout", "scheduler"}


# ---------------------------------------------------------------- layer indices, sweeps, ensembles


def test_freeze_indices_follow_their_layers():
    config = example("pretrain_lora_digits")
    config["finetune"] = {"mode": "full", "freeze": [0, 1, 2, 3]}  # the first conv block, and the second conv
    variants = by_key(config)
    removed = variants["batchnorm:remove-1"].config
    assert removed["finetune"]["freeze"] == [0, 1, 2]
    frozen = [removed["model"]["layers"][i] for i in removed["finetune"]["freeze"]]
    assert [next(iter(item)) for item in frozen] == ["conv2d", "activation", "conv2d"]
    dropout = variants["dropout:on"].config
    assert dropout["finetune"]["freeze"] == [0, 1, 2, 3] and "dropout" in dropout["model"]["layers"][-2]


def test_a_sweep_or_an_ensemble_is_ablated_as_one_model_and_says_so():
    sweep = example("digits_cnn")
    sweep["sweep"] = {"grid": {"lr": [0.001, 0.003], "dropout": [0.1, 0.25]}}
    variants = check_variants(sweep)
    assert all(v.config["sweep"] is None for v in variants)
    assert all(
        v.change.endswith("one model: the sweep of 4 variants left out, its base values kept")
        for v in variants
    )
    kept = ablation_variants(sweep, sweep_variant=1)
    assert kept[0].config["train"]["optimizer"]["lr"] == 0.001
    assert layers(kept[0].config, "dropout")[0]["p"] == 0.25
    assert kept[0].change.endswith("the sweep's variant 1 (lr=0.001, dropout=0.25), of 4")
    with pytest.raises(ConfigError, match="no variant 4"):
        ablation_base(sweep, sweep_variant=4)

    ensemble = example("digits_cnn")
    ensemble["train"]["ensemble"] = {"seeds": 3}
    variants = check_variants(ensemble)
    assert all(v.config["train"]["ensemble"] is None for v in variants)
    assert variants[0].change.endswith("one model: seed 0 of the ensemble of 3")


# ---------------------------------------------------------------- picking by key


def test_variant_by_key_finds_it_and_names_an_unknown_key():
    config = example("digits_cnn")
    assert variant_by_key(config, "activation:tanh").change == "ReLU → tanh in 3 layers"
    with pytest.raises(ConfigError) as caught:
        variant_by_key(config, "batchnorm:remove-all", path="variants[0]")
    (problem,) = caught.value.problems
    assert problem.path == "variants[0]"
    assert problem.message.startswith(
        "no ablation 'batchnorm:remove-all' applies to this config; its ablations are: activation:sigmoid,"
    )
    with pytest.raises(ConfigError) as caught:
        variant_by_key(config, "lr:0.1")
    assert caught.value.problems[0].message.startswith("unknown ablation 'lr:0.1'")


def test_variants_by_keys_names_every_bad_pick_and_stores_nothing_half():
    config = example("digits_cnn")
    picked = variants_by_keys(config, ["optimizer:sgd", "dropout:off"])
    assert [v.key for v in picked] == ["optimizer:sgd", "dropout:off"]
    with pytest.raises(ConfigError) as caught:
        variants_by_keys(config, ["optimizer:sgd", "optimizer:sgd", 7, "x" * 500])
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert problems[0] == ("variants[1]", "repeats 'optimizer:sgd' (variants[0]): each variant once")
    assert problems[1] == ("variants[2]", "must be a variant's key (text), got 7")
    assert problems[2][0] == "variants[3]" and "(500 characters)" in problems[2][1]
    with pytest.raises(ConfigError, match="pick at least one variant"):
        variants_by_keys(config, [])
    with pytest.raises(ConfigError, match="must be a list of variant keys"):
        variants_by_keys(config, "optimizer:sgd")


def test_an_invalid_config_is_refused_with_the_schemas_problems():
    config = example("digits_cnn")
    config["model"]["layers"][0]["conv2d"]["kernel"] = 99
    with pytest.raises(ConfigError) as caught:
        ablation_variants(config)
    assert caught.value.problems[0].path == "model.layers[0].conv2d.kernel"


# ---------------------------------------------------------------- random valid configs


ACTIVATIONS = ["relu", "sigmoid", "tanh", "gelu", "silu", "elu"]


def layer_lists(depth: int = 0, min_size: int = 0) -> st.SearchStrategy:
    simple = st.one_of(
        st.sampled_from([8, 16]).map(lambda units: {"linear": {"units": units}}),
        st.sampled_from(ACTIVATIONS).map(lambda name: {"activation": {"name": name}}),
        st.sampled_from([0.0, 0.1, 0.5]).map(lambda p: {"dropout": {"p": p}}),
        st.sampled_from([{"batchnorm": {}}, {"layernorm": {}}]),
    )
    item = simple
    if depth < 2:
        item = st.one_of(simple, layer_lists(depth + 1, 1).map(lambda block: {"residual": block}))
    return st.lists(item, min_size=min_size, max_size=6 if depth == 0 else 3)


def image_lists(depth: int = 0, min_size: int = 0) -> st.SearchStrategy:
    """Layers that keep an 8x8 image an image with 4 channels (so residual blocks need no projection)."""
    simple = st.one_of(
        st.sampled_from([1, 3]).map(lambda kernel: {"conv2d": {"channels": 4, "kernel": kernel}}),
        st.sampled_from([1, 2]).map(lambda m: {"separable_conv2d": {"channels": 4, "multiplier": m}}),
        st.sampled_from(ACTIVATIONS).map(lambda name: {"activation": {"name": name}}),
        st.sampled_from([{"batchnorm": {}}, {"dropout": {"p": 0.1}}]),
    )
    item = simple
    if depth < 1:
        item = st.one_of(simple, image_lists(depth + 1, 1).map(lambda block: {"residual": block}))
    return st.lists(item, min_size=min_size, max_size=5 if depth == 0 else 3)


@st.composite
def configs(draw) -> tuple[dict, dict]:
    """A config the schema accepts, and the manifest of a dataset it is drawn for."""
    body = draw(layer_lists())
    image = draw(st.booleans())
    stem = []
    if image:
        first = draw(st.sampled_from(["conv2d", "separable_conv2d"]))
        ending = draw(st.sampled_from([{"flatten": {}}, {"global_avg_pool": {}}]))
        stem = [{first: {"channels": 4}}, *draw(image_lists()), ending]
    train = {
        "epochs": 5,
        "batch_size": 16,
        "optimizer": {
            "name": draw(st.sampled_from(["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]))
        },
        "scheduler": {"name": draw(st.sampled_from(["constant", "cosine", "step", "one_cycle"]))},
    }
    if image and draw(st.booleans()):
        train["augment"] = draw(st.sampled_from([{"flip": {}}, {"tta": "flip"}, {}]))
    config = {
        "version": 1,
        "model": {
            "init": {"name": draw(st.sampled_from(["default", "he_uniform", "xavier_normal", "orthogonal"]))},
            "layers": [*stem, *body, {"linear": {"units": "auto"}}],
        },
        "train": train,
    }
    if any("residual" in item for item in body) and draw(st.booleans()):
        config["model"]["zero_init_residual"] = True
    finetune = draw(
        st.sampled_from(
            [None, {}, {"mode": "head"}, {"mode": "lora"}, {"mode": "full", "freeze": "first and last"}]
        )
    )
    if finetune is not None:
        if finetune.get("freeze"):
            finetune = {**finetune, "freeze": sorted({0, len(config["model"]["layers"]) - 1})}
        config["pretrain"] = {"dataset": "digits-0to4", "epochs": 2}
        config["finetune"] = finetune
    several = draw(st.sampled_from([None, "sweep", "ensemble"]))
    if several == "sweep":
        config["sweep"] = {"grid": {"lr": [0.001, 0.01]}}
    elif several == "ensemble":
        config["train"]["ensemble"] = {"seeds": 2}
    return config, DIGITS if image else TABLE


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_random_valid_configs_give_valid_one_technique_variants(drawn):
    config, manifest = drawn
    load_config(config)  # the strategy draws configs the schema accepts
    variants = check_variants(config, manifest=manifest)
    fits = not validate_for_dataset(load_config(config), manifest, allowed_pretrain=["digits-0to4"])
    for v in variants:
        # A config that fits its dataset gives variants that fit it too.
        problems = validate_for_dataset(load_config(v.config), manifest, allowed_pretrain=["digits-0to4"])
        assert not fits or not problems, (v.key, problems)

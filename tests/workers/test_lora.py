"""LoRA adapters, merging, freezing rules and head replacement."""

from __future__ import annotations

import pytest
import torch

from workers.build import build_model, build_optimizer
from workers.lora import (
    LoRAConv2d,
    LoRALinear,
    apply_lora,
    freeze,
    head_slot,
    merge_lora,
    prepare_finetune,
    replace_head,
    trainable_parameters,
)
from workers.spec import parse_config
from workers.techniques.adapters import LoRAParams

torch.set_num_threads(1)

CNN = "[conv2d: {channels: 4}, batchnorm, relu, separable_conv2d: {channels: 6, stride: 2}, relu, linear: 16, relu, linear: auto]"
SHAPE = (1, 8, 8)


def model_and_config(
    layers: str = CNN, finetune: str = "{adapter: {rank: 2, alpha: 4, targets: [linear, conv2d]}}"
):
    config = parse_config(
        f"version: 1\nmodel: {{layers: {layers}}}\npretrain: {{dataset: digits}}\nfinetune: {finetune}\n"
    )
    return build_model(config, SHAPE, 5).eval(), config


def trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def perturb_adapters(model):
    """Train-like change of every adapter so that merging has something to fold."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear | LoRAConv2d):
                m.lora_B.normal_(std=0.1)


def test_adapted_model_starts_equal_to_the_base():
    model, config = model_and_config()
    x = torch.randn(4, *SHAPE)
    before = model(x)
    n = apply_lora(model, config.finetune.effective_adapter)
    assert n == 3  # conv2d, the pointwise conv of separable_conv2d, linear 16; the head is left alone
    assert torch.equal(model(x), before)
    for m in model.modules():
        if isinstance(m, LoRALinear | LoRAConv2d):
            assert torch.count_nonzero(m.lora_B) == 0 and torch.count_nonzero(m.lora_A) > 0


def test_only_adapters_and_head_train_in_lora_mode():
    model, config = model_and_config()
    prepare_finetune(model, config.finetune, 5)
    assert trainable_names(model) == {
        "layers.0.conv2d.lora_A",
        "layers.0.conv2d.lora_B",
        "layers.3.separable_conv2d.pointwise.lora_A",
        "layers.3.separable_conv2d.pointwise.lora_B",
        "layers.5.linear.lora_A",
        "layers.5.linear.lora_B",
        "layers.7.linear.weight",
        "layers.7.linear.bias",
    }
    opt = build_optimizer(model, config.train.optimizer)
    base = model.layers[0].conv2d.base.weight.clone()
    x, y = torch.randn(16, *SHAPE), torch.randint(0, 5, (16,))
    model.train()
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert torch.equal(model.layers[0].conv2d.base.weight, base), "frozen base weights never move"
    assert torch.count_nonzero(model.layers[0].conv2d.lora_B) > 0


def test_head_mode_trains_the_head_only():
    model, config = model_and_config(finetune="{mode: head}")
    prepare_finetune(model, config.finetune, 5)
    assert trainable_names(model) == {"layers.7.linear.weight", "layers.7.linear.bias"}


def test_full_mode_trains_everything():
    model, config = model_and_config(finetune="{mode: full}")
    prepare_finetune(model, config.finetune, 5)
    assert trainable_names(model) == {n for n, _ in model.named_parameters()}


def test_freeze_by_layer_index():
    model, _ = model_and_config()
    freeze(model, [0, 3])
    names = trainable_names(model)
    assert not any(n.startswith(("layers.0.", "layers.3.")) for n in names)
    assert "layers.1.batchnorm.weight" in names and "layers.5.linear.weight" in names
    freeze(model, "none")
    assert len(trainable_parameters(model)) == len(list(model.parameters()))


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_merge_gives_the_same_outputs(dropout):
    model, _ = model_and_config()
    apply_lora(model, LoRAParams(rank=3, alpha=6, dropout=dropout, targets=["linear", "conv2d"]))
    perturb_adapters(model)
    model.eval()
    x = torch.randn(8, *SHAPE)
    adapted = model(x)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear | LoRAConv2d) for m in model.modules())
    assert torch.allclose(model(x), adapted, atol=1e-5)
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_lora_in_a_transformer_and_merge():
    model, config = model_and_config(
        "[transformer_encoder: {d_model: 16, heads: 2, depth: 1, patch: 4}, linear: auto]",
        "{adapter: {rank: 2}}",
    )
    prepare_finetune(model, config.finetune, 5)
    names = trainable_names(model)
    assert "layers.0.transformer_encoder.blocks.0.attn.q.lora_A" in names
    assert "layers.0.transformer_encoder.blocks.0.attn.q.base.weight" not in names
    perturb_adapters(model)
    x = torch.randn(4, *SHAPE)
    adapted = model(x)
    assert torch.allclose(merge_lora(model)(x), adapted, atol=1e-5)


def test_new_head_when_the_class_count_changes():
    model, config = model_and_config(finetune="{mode: head}")
    old = model.layers[7].linear
    prepare_finetune(model, config.finetune, 3)
    head = head_slot(model).linear
    assert head is not old and head.out_features == 3 and head.in_features == old.in_features
    assert model(torch.randn(2, *SHAPE)).shape == (2, 3)
    assert model.output_shape == (3,)
    assert trainable_names(model) == {"layers.7.linear.weight", "layers.7.linear.bias"}


def test_same_class_count_keeps_the_pretrained_head_unless_asked():
    model, config = model_and_config(finetune="{mode: head}")
    old = model.layers[7].linear
    prepare_finetune(model, config.finetune, 5)
    assert model.layers[7].linear is old
    replace_head(model, 5)
    assert model.layers[7].linear is not old


def test_apply_lora_without_targets_says_so():
    model, _ = model_and_config("[linear: 8, relu, linear: auto]")
    with pytest.raises(ValueError, match="no conv2d layer to adapt"):
        apply_lora(model, LoRAParams(targets=["conv2d"]))


def test_lora_conv_matches_a_dense_update():
    conv = torch.nn.Conv2d(3, 5, 3, padding=1, stride=2)
    lora = LoRAConv2d(conv, rank=2, alpha=4)
    with torch.no_grad():
        lora.lora_B.normal_()
    x = torch.randn(2, 3, 9, 9)
    merged = lora.merged()
    assert torch.allclose(merged(x), lora(x), atol=1e-5)
    assert merged.stride == conv.stride and merged.padding == conv.padding


def test_freeze_after_apply_lora_keeps_the_adapters_trainable():
    # Either order gives the same trainable set: the adapters and the head.
    a, config = model_and_config()
    apply_lora(a, config.finetune.effective_adapter)
    freeze(a, "backbone")
    b, _ = model_and_config()
    freeze(b, "backbone")
    apply_lora(b, config.finetune.effective_adapter)
    assert trainable_names(a) == trainable_names(b)
    assert {n for n in trainable_names(a) if "lora" not in n} == {
        "layers.7.linear.weight",
        "layers.7.linear.bias",
    }


def test_helpers_are_reachable_from_build():
    from workers import build

    assert build.apply_lora is apply_lora and build.merge_lora is merge_lora and build.freeze is freeze
    assert build.replace_head is replace_head and build.prepare_finetune is prepare_finetune

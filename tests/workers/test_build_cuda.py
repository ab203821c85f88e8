"""The builder's modules on a CUDA device, in fp32 and under bf16 autocast
(skipped on machines without one; run on a lent GPU)."""

from __future__ import annotations

import pytest
import torch
from test_build import CASES, config_for  # tests/workers is on sys.path (no packages under tests/)

from workers.build import build_model
from workers.lora import LoRAConv2d, LoRALinear, merge_lora, prepare_finetune
from workers.spec import parse_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def exact_fp32():
    # TF32 would make fp32 comparisons below loose; the trainer decides its own setting.
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.mark.parametrize(
    ("layers", "shape", "n_out", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_layer_runs_on_cuda_in_fp32_and_bf16(layers, shape, n_out, expected):
    config = config_for(layers, "he_normal")
    cpu = build_model(config, shape, n_out)
    gpu = build_model(config, shape, n_out).cuda()
    x = torch.randn(4, *shape)
    cpu.eval()
    gpu.eval()
    assert torch.allclose(gpu(x.cuda()).cpu(), cpu(x), atol=1e-4, rtol=1e-4), "same weights on both devices"
    gpu.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = gpu(x.cuda())
    assert tuple(y.shape) == (4, *expected)
    y.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gpu.parameters())


def test_forward_is_bit_identical_for_the_same_seed_on_cuda():
    config = config_for(
        "[conv2d: {channels: 8}, batchnorm, relu, transformer_encoder: {d_model: 16, heads: 2, patch: 2}, "
        "linear: auto]",
        "he_normal",
    )
    x = torch.randn(16, 1, 8, 8, device="cuda")
    outs = [build_model(config, (1, 8, 8), 10).cuda().eval()(x) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])


def test_lora_on_cuda_merges_to_the_same_outputs():
    config = parse_config(
        "version: 1\nmodel: {layers: [conv2d: {channels: 8}, relu, separable_conv2d: {channels: 8, stride: 2}, "
        "transformer_encoder: {d_model: 16, heads: 2, patch: 2}, linear: auto]}\n"
        "pretrain: {dataset: digits}\nfinetune: {adapter: {rank: 4, targets: [linear, conv2d]}}\n"
    )
    model = build_model(config, (1, 8, 8), 5).cuda().eval()
    x = torch.randn(8, 1, 8, 8, device="cuda")
    base = model(x)
    prepare_finetune(model, config.finetune, 5)
    assert torch.equal(model(x), base)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear | LoRAConv2d):
                m.lora_B.normal_(std=0.1)
    adapted = model(x)
    assert torch.allclose(merge_lora(model)(x), adapted, atol=1e-5)

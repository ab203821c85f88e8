"""Fine-tuning helpers: LoRA adapters (written here, no peft), freezing rules and
head replacement.

LoRA keeps a pre-trained weight W frozen and learns a low-rank update:
y = W x + (alpha / rank) * B A x, with A (rank x in) random and B (out x rank)
zero at the start, so the adapted model starts exactly equal to the base model.
`merge_lora` folds B A into W for inference (same outputs, no extra cost).

The usual sequence, after pre-training: `prepare_finetune(model, config.finetune,
n_outputs)` (new head when needed, freeze, adapters), train, `merge_lora(model)`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from workers.techniques._modules import FlattenLinear, Slot
from workers.techniques.adapters import LoRAParams


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        kw = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **kw))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **kw))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.base, FlattenLinear) and x.dim() > 2:
            x = x.flatten(1)
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        return self.base(x) + update * self.scaling

    def merged(self) -> nn.Linear:
        base = self.base
        out = type(base)(
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            device=base.weight.device,
            dtype=base.weight.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(base.weight + self.scaling * (self.lora_B @ self.lora_A))
            if base.bias is not None:
                out.bias.copy_(base.bias)
        return out


class LoRAConv2d(nn.Module):
    """LoRA for a (non-grouped) Conv2d: A is a rank-channel convolution with the
    base's kernel, stride and padding; B a 1x1 convolution back to the output channels."""

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if base.groups != 1:
            raise ValueError("LoRAConv2d needs an ungrouped convolution")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        kw = {"device": base.weight.device, "dtype": base.weight.dtype}
        kh, kw_ = base.kernel_size
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_channels, kh, kw_, **kw))
        self.lora_B = nn.Parameter(torch.zeros(base.out_channels, rank, 1, 1, **kw))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.base
        low = F.conv2d(self.dropout(x), self.lora_A, None, b.stride, b.padding, b.dilation)
        return b(x) + F.conv2d(low, self.lora_B) * self.scaling

    def merged(self) -> nn.Conv2d:
        b = self.base
        out = nn.Conv2d(
            b.in_channels,
            b.out_channels,
            b.kernel_size,
            stride=b.stride,
            padding=b.padding,
            dilation=b.dilation,
            bias=b.bias is not None,
            device=b.weight.device,
            dtype=b.weight.dtype,
        )
        with torch.no_grad():
            delta = torch.einsum("or,rikl->oikl", self.lora_B[:, :, 0, 0], self.lora_A)
            out.weight.copy_(b.weight + self.scaling * delta)
            if b.bias is not None:
                out.bias.copy_(b.bias)
        return out


LORA_TYPES = (LoRALinear, LoRAConv2d)


def head_slot(model: nn.Module) -> Slot | None:
    """The last top-level linear layer: the head that maps features to outputs."""
    layers = getattr(model, "layers", None)
    if layers is None:
        return None
    for slot in reversed(list(layers)):
        if isinstance(slot, Slot) and slot.technique == "linear":
            return slot
    return None


def _head_modules(model: nn.Module) -> set[int]:
    slot = head_slot(model)
    return {id(m) for m in slot.modules()} if slot is not None else set()


def _targets(model: nn.Module, targets: list[str], skip: set[int]):
    for parent in list(model.modules()):
        if isinstance(parent, LORA_TYPES):
            continue
        for name, child in list(parent.named_children()):
            if id(child) in skip or isinstance(child, LORA_TYPES):
                continue
            if "linear" in targets and isinstance(child, nn.Linear):
                yield parent, name, child
            elif "conv2d" in targets and isinstance(child, nn.Conv2d) and child.groups == 1:
                yield parent, name, child


def apply_lora(model: nn.Module, adapter: LoRAParams, *, skip_head: bool = True) -> int:
    """Wrap every target layer (nn.Linear for `linear`, ungrouped nn.Conv2d for
    `conv2d`) in a LoRA adapter, in place; the head is left alone (it is trained
    whole, or frozen, by `freeze`). Returns the number of adapted layers."""
    skip = _head_modules(model) if skip_head else set()
    found = list(_targets(model, list(adapter.targets), skip))
    if not found:
        raise ValueError(f"no {' or '.join(adapter.targets)} layer to adapt")
    for parent, name, child in found:
        cls = LoRALinear if isinstance(child, nn.Linear) else LoRAConv2d
        setattr(parent, name, cls(child, adapter.rank, adapter.alpha, adapter.dropout))
    return len(found)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base layer, in place; returns the model."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LORA_TYPES):
                setattr(parent, name, child.merged())
    return model


def _adapter_params(model: nn.Module) -> set[int]:
    return {id(p) for m in model.modules() if isinstance(m, LORA_TYPES) for p in (m.lora_A, m.lora_B)}


def freeze(model: nn.Module, rule: str | list[int]) -> nn.Module:
    """`none`: everything trains; `backbone`: only the head trains; a list of
    indices: those top-level layers are frozen, the rest train. LoRA adapters
    always stay trainable (they are what fine-tuning trains), whether `freeze`
    runs before or after `apply_lora`."""
    adapters = _adapter_params(model)
    if rule == "none":
        keep = {id(p) for p in model.parameters()}
    elif rule == "backbone":
        head = head_slot(model)
        if head is None:
            raise ValueError("freeze: backbone needs a final linear layer (the head)")
        keep = {id(p) for p in head.parameters()}
    elif isinstance(rule, list):
        frozen = set(rule)
        keep = {id(p) for i, slot in enumerate(model.layers) if i not in frozen for p in slot.parameters()}
    else:
        raise ValueError(f"unknown freeze rule {rule!r}")
    for p in model.parameters():
        p.requires_grad_(id(p) in keep or id(p) in adapters)
    return model


def frozen_norms_to_eval(model: nn.Module) -> None:
    """Put every BatchNorm layer whose parameters are all frozen in eval mode.

    Call it after `model.train()`. In train mode a frozen BatchNorm would still replace
    its pre-trained running statistics with the fine-tuning batches', so the "frozen"
    layers would compute something else than what was pre-trained (and what the head
    is being fitted to). Fine-tuning in the usual sense keeps them, as
    torchvision's FrozenBatchNorm2d does."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def replace_head(model: nn.Module, n_outputs: int) -> nn.Module:
    """A fresh final linear layer with n_outputs units (same inputs), in place."""
    slot = head_slot(model)
    if slot is None:
        raise ValueError("the model has no final linear layer to replace")
    old = slot.linear
    base = old.base if isinstance(old, LoRALinear) else old
    slot.linear = FlattenLinear(
        base.in_features,
        n_outputs,
        bias=base.bias is not None,
        device=base.weight.device,
        dtype=base.weight.dtype,
    )
    if hasattr(model, "output_shape"):
        model.output_shape = (n_outputs,)
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def prepare_finetune(
    model: nn.Module, finetune, n_outputs: int, *, new_head: bool | None = None
) -> nn.Module:
    """Turn a pre-trained model into the one to fine-tune, per a FinetuneSpec:
    a new head when the output width changes (or new_head=True), then the
    freezing rule, then LoRA adapters in lora mode."""
    head = head_slot(model)
    width = head.linear.out_features if head is not None else None
    if new_head or (new_head is None and width != n_outputs):
        replace_head(model, n_outputs)
    mode = finetune.effective_mode
    freeze(model, "backbone" if mode == "head" else finetune.effective_freeze)
    adapter = finetune.effective_adapter
    if adapter is not None:
        apply_lora(model, adapter)
    return model


__all__ = [
    "LoRAConv2d",
    "LoRALinear",
    "apply_lora",
    "freeze",
    "frozen_norms_to_eval",
    "head_slot",
    "merge_lora",
    "prepare_finetune",
    "replace_head",
    "trainable_parameters",
]

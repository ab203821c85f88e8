"""Which entries may train together in one packed step: `pack_signature`.

Two configs with the same signature build networks of the same shapes on the same arrays,
so their parameters stack and one `vmap`ped step trains them all (`workers.training.packed`).
What the signature holds, and why:

- every layer with its parameters (widths, kernels, strides, activations, BatchNorm's
  momentum and eps), except each layer's `init` and dropout's `p`: the initialiser only
  decides the starting values, and each member's dropout masks are drawn for it alone;
- the input shape, the outputs, the task and the dataset's discrete inputs, and a digest of
  the arrays themselves: members share one copy of the data on the device;
- the batch size and the validation fraction: every member takes the same number of
  batches of the same shape per epoch, in lockstep;
- the precision asked for: one autocast for the whole step.

Everything else may differ between members: seed (initialisation, validation split, batch
order, dropout), epochs, optimiser and its settings, schedule, gradient clipping, weight
decay, loss, early stopping, test-time flips, budget.

`None` means the config trains alone (`train()`), and `unpackable_reason` says why:

- pre-training and fine-tuning (LoRA, frozen layers): two phases on two datasets, a head
  swapped and layers frozen in between, which the members of a pack cannot share;
- training-time augmentation: kornia draws its crops and flips from torch's global
  generator inside its modules, per batch, so members' draws cannot be kept apart;
- LSTM and GRU layers: `aten::lstm` has no batching rule (vmap refuses it), and the
  packed-sequence path of token input needs the lengths on the host;
- Transformer encoders: attention has no batching rule on the CPU (vmap would run the
  members one after another inside the step, no faster than alone), and its attention
  dropout draws inside the kernel;
- any layer not listed in `PACKABLE_LAYERS` (a technique added later is solo until it is
  tested under vmap here).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any

import numpy as np

from workers.data import TrainData
from workers.spec import LayerItem, ModelConfig

# Layers tested under `vmap` (tests/workers/test_train_packed.py), with BatchNorm's running
# statistics stacked as buffers.
PACKABLE_LAYERS = frozenset(
    {
        "linear",
        "activation",
        "dropout",
        "flatten",
        "batchnorm",
        "layernorm",
        "embedding",
        "conv1d",
        "conv2d",
        "separable_conv2d",
        "max_pool",
        "avg_pool",
        "max_pool1d",
        "max_pool2d",
        "avg_pool1d",
        "avg_pool2d",
        "global_avg_pool",
        "global_max_pool",
        "attention_pool",
        "residual",
    }
)
_CONVOLUTIONS = {"conv1d", "conv2d", "separable_conv2d"}
_SOLO_LAYERS = {
    "lstm": "LSTM layers have no batching rule under vmap",
    "gru": "GRU layers have no batching rule under vmap",
    "transformer_encoder": (
        "attention has no batching rule on the CPU and draws its dropout inside the kernel"
    ),
}
# Parameters of a layer that members may set each their own way.
_FREE_PARAMS = {"init"}
_FREE_BY_LAYER = {"dropout": {"p"}}

SIGNATURE_VERSION = 1


def unpackable_reason(config: ModelConfig) -> str | None:
    """Why `config` cannot share a packed step with others (None: it can)."""
    if config.pretrain is not None:
        return "it pre-trains on another dataset first"
    if config.finetune is not None:
        return "it fine-tunes (adapters or frozen layers)"
    augment = config.train.augment
    if augment is not None and augment.trains:
        return "training-time augmentation draws from torch's global generator"
    for item in _walk(config.model.layers):
        if item.technique in _SOLO_LAYERS:
            return f"{item.technique}: {_SOLO_LAYERS[item.technique]}"
        if item.technique not in PACKABLE_LAYERS:
            return f"{item.technique} layers are not tested under vmap"
    return None


def pack_signature(config: ModelConfig, data: TrainData) -> str | None:
    """The canonical signature of what must be equal to share one vmapped step (module
    docstring), as a hex digest; None when `config` cannot be packed (`unpackable_reason`)."""
    if unpackable_reason(config) is not None:
        return None
    train = config.train
    canonical = {
        "version": SIGNATURE_VERSION,
        "layers": [_shape_relevant(item) for item in config.model.layers],
        "input_shape": list(data.input_shape),
        "n_outputs": data.n_outputs,
        "task_type": data.task_type,
        "inputs": data.inputs,
        "data": dataset_digest(data),
        "batch_size": train.batch_size,
        "validation_fraction": train.validation_fraction,
        "precision": train.precision,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def convolutional(config: ModelConfig) -> bool:
    """Whether the network convolves (its packed step is slower than its own on a CPU)."""
    return any(item.technique in _CONVOLUTIONS for item in _walk(config.model.layers))


def _walk(layers: list[LayerItem]):
    for item in layers:
        yield item
        if item.technique == "residual":
            yield from _walk(item.params)


def _shape_relevant(item: LayerItem) -> Any:
    if item.technique == "residual":
        return {"residual": [_shape_relevant(inner) for inner in item.params]}
    params = item.params.model_dump(mode="json") if hasattr(item.params, "model_dump") else item.params
    if isinstance(params, dict):
        free = _FREE_PARAMS | _FREE_BY_LAYER.get(item.technique, set())
        params = {k: v for k, v in params.items() if k not in free}
    return {item.technique: params}


# Digests of datasets still alive, by identity: a worker computes each one once per claim
# of a pack, not once per member.
_DIGESTS: dict[int, str] = {}


def dataset_digest(data: TrainData) -> str:
    """A digest of the arrays a run trains and predicts on (features, targets as class
    indices or numbers, test features) and of the classes' names."""
    key = id(data)
    cached = _DIGESTS.get(key)
    if cached is not None:
        return cached
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([data.task_type, data.classes], default=str).encode("utf-8"))
    for arr in (data.X_train, data.target_indices(), data.X_test):
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    digest = h.hexdigest()
    _DIGESTS[key] = digest
    weakref.finalize(data, _DIGESTS.pop, key, None)
    return digest

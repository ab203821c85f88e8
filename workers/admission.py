"""How much device memory an entry will take, from its config and its data alone, and how much
the device has free: what the device pool admits entries by (docs/architecture.md, "Packed
training").

The estimate is computed from the schema (parameter counts and shape inference, pure Python)
before anything is allocated. It is meant to be cautious rather than exact: the trainer's
own memory (the CUDA context, the allocator's rounding, kernels' workspaces) is covered by
the pool keeping a fraction of the free memory aside (`PODIUM_WORKER_MEMORY_FRACTION`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from workers import techniques
from workers.data import TrainData
from workers.spec import ModelConfig, count_parameters
from workers.techniques.base import ShapeContext

FLOAT_BYTES = 4  # every tensor the trainer keeps on the device is float32 (bf16 autocasts inside)
# Optimiser state per parameter, in parameters: Adam's two moments, a momentum buffer, RMSprop's
# square average (and its momentum buffer when it has one).
OPTIMISER_STATE = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 2, "adam": 2, "adamw": 2}
# Autograd keeps a layer's output (or input) for the backward pass, and the backward pass holds
# a gradient of the same size: two copies of every activation at the training batch size.
ACTIVATION_COPIES = 2
EVAL_ROWS = 4096  # workers.training.loop.EVAL_CHUNK: rows per forward pass when predicting

_LAYERS = techniques.family("layer")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes an entry needs on its device. `member` is the entry's own (weights, gradients,
    optimiser state, activations); `data` is its dataset's tensors, held once by a pack
    however many members train on it."""

    parameters: int
    weights: int
    optimiser: int
    activations: int
    data: int

    @property
    def member(self) -> int:
        return self.weights + self.optimiser + self.activations

    @property
    def total(self) -> int:
        return self.member + self.data


def memory_estimate(
    config: ModelConfig, data: TrainData, pretrain: TrainData | None = None
) -> MemoryEstimate:
    """The device memory `config` needs to train on `data` (and to pre-train on `pretrain`)."""
    train = config.train
    n_params = count_parameters(
        config,
        data.input_shape,
        data.n_outputs,
        with_adapters=config.finetune is not None,
        inputs=data.inputs,
    )
    optimiser_names = {train.optimizer.name}
    batch = train.batch_size
    if config.pretrain is not None:
        optimiser_names.add((config.pretrain.optimizer or train.optimizer).name)
        batch = max(batch, config.pretrain.batch_size or batch)
    state = max(OPTIMISER_STATE.get(name, 2) for name in optimiser_names)
    per_row, widest = activations_per_row(config, data)
    train_activations = ACTIVATION_COPIES * per_row * min(batch, max(len(data.X_train), 1))
    # Predicting keeps about two consecutive layers' outputs alive, for a chunk of rows, no gradients.
    eval_activations = 2 * widest * min(EVAL_ROWS, max(len(data.X_test), len(data.X_train), 1))
    data_bytes = dataset_bytes(data) + (dataset_bytes(pretrain) if pretrain is not None else 0)
    return MemoryEstimate(
        parameters=n_params,
        weights=2 * n_params * FLOAT_BYTES,  # the weights and their gradients
        optimiser=state * n_params * FLOAT_BYTES,
        activations=max(train_activations, eval_activations) * FLOAT_BYTES,
        data=data_bytes,
    )


def dataset_bytes(data: TrainData) -> int:
    """The dataset's features and targets as the trainer puts them on the device."""
    row = math.prod(data.input_shape)
    rows = len(data.X_train) + len(data.X_test)
    return (rows * row + len(data.y_train)) * FLOAT_BYTES


def activations_per_row(config: ModelConfig, data: TrainData) -> tuple[int, int]:
    """(the sum of every layer's output size for one row, nested blocks included; the largest
    single output). The input itself counts as the first "output"."""
    sizes = [math.prod(data.input_shape)]

    def walk(layers, shape, ctx):
        fresh = ctx.at_input  # as workers.spec.infer_shapes: only the first layer sees the input
        for item in layers:
            tech = _LAYERS[item.technique]
            ctx.at_input = fresh
            if tech.extra.get("container"):
                ctx.infer_layers = lambda inner, s: walk(inner, s, ctx)
            shape = tech.infer(item.params, shape, ctx)
            sizes.append(math.prod(shape))
            fresh = False
        ctx.at_input = False
        return shape

    ctx = ShapeContext(data.n_outputs, at_input=True, inputs=data.inputs)
    walk(config.model.layers, tuple(data.input_shape), ctx)
    return sum(sizes), max(sizes)


# ---------------------------------------------------------------- the device's free memory


def device_free_bytes(device: str) -> int:
    """Memory free for training on `device` now: on a GPU what the driver has free plus what
    torch's allocator holds cached and unused; on the CPU the kernel's MemAvailable."""
    if device.startswith("cuda"):
        import torch

        dev = torch.device(device)
        free, _total = torch.cuda.mem_get_info(dev)
        cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(free + max(cached, 0))
    return cpu_available_bytes()


def device_total_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[1])
    return meminfo().get("MemTotal", 0)


def cpu_available_bytes() -> int:
    info = meminfo()
    return info.get("MemAvailable", info.get("MemFree", 0))


def meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, int]:
    """/proc/meminfo in bytes (empty where there is none: not Linux)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            found[name] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return found

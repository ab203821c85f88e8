"""Ablations: the variants of a model config that each change one technique.

From a scored model entry its owner starts an ablation (issue 16): Podium derives every
one-technique change that applies to the entry's config, the owner picks some, and each is
trained beside the original so that the table says which technique mattered. This module is
the derivation, in pure Python on the schema (`workers.spec`): the web tier lists and checks
the variants without torch, and the trainer trains the configs it returns like any other.

Rules (docs/techniques.md, "Ablations"):
- A variant changes one technique and nothing else; its config is the whole config, valid
  under the schema, normalised as the intake stores it (`ModelConfig.model_dump(mode="json")`).
- A family is derived only when it applies; no variant equals the original or another.
- An entry of several models (a sweep, an ensemble) is ablated as one model: `ablation_base`
  drops the sweep (keeping its base values, or the variant the run kept) or the ensemble (its
  first seed), and every variant's `change` says so. The original the variants are compared
  with is `ablation_base(config)`, trained the same way.
- Keys (`family:what`) are derived from the config alone, so the same config always gives the
  same keys in the same order: the platform stores the picked keys and derives them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.problems import Problem, clip, echo
from workers.spec import MAX_LAYERS, ConfigError, ModelConfig, ModelSpec, expand_variants, load_config

# The families, in the order their variants are listed.
ABLATION_TECHNIQUES = (
    "activation",
    "batchnorm",
    "residual",
    "init",
    "optimizer",
    "dropout",
    "scheduler",
    "separable",
    "finetune",
    "augment",
)

# The schema's bound on model.layers: skips removed or a layer inserted must still fit in it.
MAX_TOP_LAYERS = next(
    m.max_length for m in ModelSpec.model_fields["layers"].metadata if hasattr(m, "max_length")
)

# The activations an ablation swaps between (the post's story: ReLU against the saturating
# sigmoid and tanh, and GELU, the Transformer's).
SWAP_ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")
SATURATING = {"sigmoid", "tanh"}

# The optimisers an ablation swaps between, each at its customary learning rate: Adam's and
# RMSProp's 0.001 (Kingma & Ba; Hinton's lecture 6e), plain SGD's 0.1, and 0.01 for SGD with
# momentum 0.9, whose steps add up to about ten times the rate.
SWAP_OPTIMIZERS = {"adam": 0.001, "sgd": 0.1, "momentum": 0.01, "rmsprop": 0.001}

# A badly scaled initialisation: Xavier's shape at a tenth of its scale, like the small random
# weights (std 0.01) used before Glorot & Bengio (2010): the signal shrinks layer by layer.
BAD_INIT = {"name": "xavier_normal", "gain": 0.1}
# Xavier's and He's counterpart in the other family, with the same distribution.
OTHER_INIT = {
    "he_normal": "xavier_normal",
    "he_uniform": "xavier_uniform",
    "xavier_normal": "he_normal",
    "xavier_uniform": "he_uniform",
}

DROPOUT_ON = 0.5  # Srivastava et al. (2014): 0.5 on the hidden units before the classifier
SCHEDULE_ON = {"name": "cosine"}
LORA_ON = {"name": "lora", "rank": 8, "alpha": 16.0}
FLIP_ON = {"p": 0.5}

_ACTIVATION_NAMES = {
    "relu": "ReLU",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "GELU",
    "silu": "SiLU",
    "leaky_relu": "leaky ReLU",
    "elu": "ELU",
}
_INIT_NAMES = {
    "default": "PyTorch's default init",
    "he_normal": "He (normal) init",
    "he_uniform": "He (uniform) init",
    "xavier_normal": "Xavier (normal) init",
    "xavier_uniform": "Xavier (uniform) init",
    "orthogonal": "orthogonal init",
}
_OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "momentum": "SGD with momentum",
    "nesterov": "SGD with Nesterov momentum",
    "rmsprop": "RMSProp",
    "adam": "Adam",
    "adamw": "AdamW",
}
_SCHEDULER_NAMES = {
    "constant": "a constant learning rate",
    "step": "the step schedule",
    "exponential": "the exponential schedule",
    "cosine": "the cosine schedule",
    "warmup_cosine": "the warm-up + cosine schedule",
    "one_cycle": "the one-cycle schedule",
}
_MODE_NAMES = {
    "lora": "LoRA fine-tuning",
    "full": "full fine-tuning",
    "head": "fine-tuning the head only",
}
_IMAGE_LAYERS = {"conv2d", "separable_conv2d", "max_pool2d", "avg_pool2d"}


@dataclass(frozen=True)
class AblationVariant:
    key: str  # stable, URL/CLI-safe id, e.g. "activation:sigmoid", "batchnorm:remove-all"
    technique: str  # one of ABLATION_TECHNIQUES
    change: str  # for people, specific to this config: "ReLU → sigmoid in 3 layers"
    config: dict  # the whole derived config, valid under workers.spec (normalised)


# ---------------------------------------------------------------- the single model


def ablation_base(config: Mapping[str, Any] | ModelConfig, *, sweep_variant: int | None = None) -> dict:
    """The one model an ablation starts from, as a normalised config: a plain config as it is;
    a sweep's variant `sweep_variant` (the one its run kept, `VariantsReport.kept`), or without
    it the config's own values with the sweep left out; an ensemble's first seed. The platform
    trains it as the ablation's original."""
    parsed = load_config(config)
    if parsed.sweep is not None and sweep_variant is not None:
        variants = expand_variants(parsed)
        if not 0 <= sweep_variant < len(variants):
            raise ConfigError(
                [
                    Problem(
                        f"the sweep has {len(variants)} variants (0 to {len(variants) - 1}); no variant {sweep_variant}",
                        path="sweep",
                    )
                ]
            )
        return variants[sweep_variant].config.model_dump(mode="json")
    data = parsed.model_dump(mode="json")
    data["sweep"] = None
    data["train"]["ensemble"] = None
    return load_config(data).model_dump(mode="json")


def _one_model_note(parsed: ModelConfig, sweep_variant: int | None) -> str:
    if parsed.sweep is not None:
        if sweep_variant is not None:
            label = expand_variants(parsed)[sweep_variant].label
            return f"; one model: the sweep's variant {sweep_variant} ({label}), of {parsed.sweep.size}"
        return f"; one model: the sweep of {parsed.sweep.size} variants left out, its base values kept"
    ensemble = parsed.train.ensemble
    if ensemble is not None and ensemble.seeds > 1:
        return f"; one model: seed {parsed.seed} of the ensemble of {ensemble.seeds}"
    return ""


# ---------------------------------------------------------------- walking the layers

Path = tuple[int, ...]  # indices from model.layers down through residual blocks


def _name(layer: Mapping[str, Any]) -> str:
    return next(iter(layer))


def _walk(layers: list[dict], prefix: Path = ()) -> Iterator[tuple[Path, dict]]:
    """(path, layer) for every layer, nested ones included, in order."""
    for i, layer in enumerate(layers):
        path = (*prefix, i)
        yield path, layer
        if _name(layer) == "residual":
            yield from _walk(layer["residual"], path)


def _where(path: Path) -> str:
    """A layer's path as the schema's problems write it: model.layers[3].residual[1]."""
    text = f"model.layers[{path[0]}]"
    for i in path[1:]:
        text += f".residual[{i}]"
    return text


def _describe(layer: Mapping[str, Any]) -> str:
    name = _name(layer)
    params = layer[name]
    if name in ("conv1d", "conv2d", "separable_conv2d"):
        return f"{name} {params['channels']}"
    if name == "linear":
        return f"linear {params['units']}"
    if name == "activation":
        return _ACTIVATION_NAMES.get(params["name"], params["name"])
    return name


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _map_layers(layers: list[dict], fn: Callable[[dict], list[dict]]) -> list[dict]:
    """Each layer replaced by fn(layer) (none, itself, or several), depth first: a residual
    block's own layers are mapped before the block is."""
    out: list[dict] = []
    for layer in layers:
        if _name(layer) == "residual":
            layer = {"residual": _map_layers(layer["residual"], fn)}
        out.extend(fn(layer))
    return out


def _copy(data: Any) -> Any:
    """A deep copy of JSON data (a normalised config): several times faster than deepcopy."""
    return json.loads(json.dumps(data))


def _with_layers(data: dict, layers: list[dict], origin: list[int | None]) -> dict:
    """`data` with new top-level layers (used as they are: the caller's copies); `origin[j]` is
    the old index new layer j came from (None: inserted). A freeze list of layer indices
    follows its layers."""
    model = data["model"]
    out = _copy({**data, "model": {**model, "layers": []}})
    out["model"]["layers"] = layers
    finetune = out.get("finetune")
    if finetune is not None and isinstance(finetune.get("freeze"), list):
        frozen = set(finetune["freeze"])
        finetune["freeze"] = [j for j, o in enumerate(origin) if o is not None and o in frozen]
    return out


def _each_top(data: dict, fn: Callable[[dict], list[dict]]) -> dict:
    """`data` with every top-level layer replaced by fn(layer) (nested ones mapped by fn too),
    the freeze list following its layers."""
    layers: list[dict] = []
    origin: list[int | None] = []
    for i, layer in enumerate(data["model"]["layers"]):
        new = _map_layers([_copy(layer)], fn)
        layers.extend(new)
        origin.extend([i] * len(new))
    return _with_layers(data, layers, origin)


def _count(data: dict, name: str) -> int:
    return sum(1 for _, layer in _walk(data["model"]["layers"]) if _name(layer) == name)


# ---------------------------------------------------------------- the families

Derived = tuple[str, str, dict]  # key, change, config


def _activation(data: dict, _: Mapping | None) -> Iterator[Derived]:
    used = [
        layer["activation"]["name"] for _, layer in _walk(data["model"]["layers"]) if "activation" in layer
    ]
    if not used:
        return
    for target in SWAP_ACTIVATIONS:
        swapped: dict[str, int] = {}
        for name in used:
            if name != target:
                swapped[name] = swapped.get(name, 0) + 1
        if not swapped:
            continue

        def swap(layer: dict, target: str = target) -> list[dict]:
            if "activation" in layer and layer["activation"]["name"] != target:
                return [{"activation": {"name": target}}]
            return [layer]

        shown = _ACTIVATION_NAMES[target]
        parts = [
            f"{_ACTIVATION_NAMES.get(n, n)} → {shown} in {_plural(k, 'layer')}" for n, k in swapped.items()
        ]
        kept = len(used) - sum(swapped.values())
        if kept:
            parts.append(f"the other {kept} already {shown}")
        yield f"activation:{target}", "; ".join(parts), _each_top(data, swap)


def _holder(top: list[dict], path: Path) -> list[dict]:
    """The list holding the layer at `path`: the model's, or a residual block's."""
    holder = top
    for i in path[:-1]:
        holder = holder[i]["residual"]
    return holder


def _removable(top: list[dict], paths: Iterable[Path]) -> set[Path]:
    """Of `paths`, those that can go together without emptying a list (the model's, or a
    residual block's, which the schema needs to hold a layer): where all of a list would go,
    its last stays."""
    doomed = set(paths)
    for parent in {path[:-1] for path in doomed}:
        n = len(_holder(top, (*parent, 0)))
        if all((*parent, j) in doomed for j in range(n)):
            doomed.discard((*parent, n - 1))
    return doomed


def _remove(data: dict, doomed: set[Path]) -> dict:
    """`data` without the layers at the paths in `doomed`."""

    def keep(layers: list[dict], prefix: Path) -> list[dict]:
        out = []
        for i, layer in enumerate(layers):
            path = (*prefix, i)
            if path in doomed:
                continue
            if _name(layer) == "residual":
                layer = {"residual": keep(layer["residual"], path)}
            out.append(layer)
        return out

    layers: list[dict] = []
    origin: list[int | None] = []
    for i, layer in enumerate(data["model"]["layers"]):
        if (i,) in doomed:
            continue
        if _name(layer) == "residual":
            layer = {"residual": keep(layer["residual"], (i,))}
        layers.append(layer)
        origin.append(i)
    return _with_layers(data, _copy(layers), origin)


def _batchnorm(data: dict, _: Mapping | None) -> Iterator[Derived]:
    top = data["model"]["layers"]
    found = [path for path, layer in _walk(top) if "batchnorm" in layer]
    # A BatchNorm alone in a residual block stays: a block holds at least one layer.
    for path in found:
        if not _removable(top, [path]):
            continue
        before = _before(top, path)
        after = f" (after {before})" if before else ""
        others = len(found) - 1
        rest = {0: "", 1: ", the other BatchNorm kept"}.get(others, f", the other {others} BatchNorms kept")
        key = "batchnorm:remove-" + ".".join(str(i) for i in path)
        yield key, f"the BatchNorm at {_where(path)}{after} removed{rest}", _remove(data, {path})
    doomed = _removable(top, found)
    if len(doomed) > 1:
        kept = len(found) - len(doomed)
        note = f" ({_plural(kept, 'BatchNorm')} alone in a residual block kept)" if kept else ""
        yield (
            "batchnorm:remove-all",
            f"all {len(doomed)} BatchNorm layers removed{note}",
            _remove(data, doomed),
        )


def _before(top: list[dict], path: Path) -> str:
    holder = _holder(top, path)
    i = path[-1]
    return _describe(holder[i - 1]) if i > 0 else ""


def _residual(data: dict, _: Mapping | None) -> Iterator[Derived]:
    n = _count(data, "residual")
    if not n:
        return

    def inline(layer: dict) -> list[dict]:
        return layer["residual"] if _name(layer) == "residual" else [layer]

    out = _each_top(data, inline)
    if len(out["model"]["layers"]) > MAX_TOP_LAYERS:
        return  # the blocks' layers would not fit in one list; nothing a config can say
    note = ""
    if out["model"]["zero_init_residual"]:
        out["model"]["zero_init_residual"] = False
        note = "; zero_init_residual goes with them"
    yield (
        "residual:remove-skips",
        f"the skip (and any projection on it) of {_plural(n, 'residual block')} removed, the blocks' layers kept{note}",
        out,
    )


def _activation_kind(data: dict) -> str:
    used = {
        layer["activation"]["name"] for _, layer in _walk(data["model"]["layers"]) if "activation" in layer
    }
    return "saturating" if used and used <= SATURATING else "relu-like"


def _init(data: dict, _: Mapping | None) -> Iterator[Derived]:
    init = data["model"]["init"]
    chosen = init["name"]
    shown = _INIT_NAMES.get(chosen, chosen)

    def with_init(new: dict) -> dict:
        out = _copy(data)
        out["model"]["init"] = new
        return out

    if chosen != "default":
        yield "init:default", f"{shown} → PyTorch's default init", with_init({"name": "default"})
    other = OTHER_INIT.get(chosen) or (
        "xavier_normal" if _activation_kind(data) == "saturating" else "he_normal"
    )
    yield f"init:{other}", f"{shown} → {_INIT_NAMES[other]}", with_init({"name": other})
    yield (
        "init:badly-scaled",
        f"{shown} → Xavier (normal) at a tenth of its scale (gain 0.1): the small random weights of "
        "before 2010, under which the signal shrinks layer by layer",
        with_init(dict(BAD_INIT)),
    )
    if _count(data, "residual"):
        out = _copy(data)
        on = data["model"]["zero_init_residual"]
        out["model"]["zero_init_residual"] = not on
        if on:
            yield (
                "init:zero-residual-off",
                "zero_init_residual off: every residual block starts with its last layer's init, not as the identity",
                out,
            )
        else:
            yield (
                "init:zero-residual-on",
                "zero_init_residual on: every residual block's last layer starts at zero, so the block starts as the identity",
                out,
            )


def _optimizer(data: dict, _: Mapping | None) -> Iterator[Derived]:
    train = data["train"]
    current = train["optimizer"]
    name = current["name"]
    kept = []
    if current.get("weight_decay"):
        kept.append(f"weight decay {current['weight_decay']:g}")
    if current.get("grad_clip") is not None:
        kept.append(f"gradient clipping at {current['grad_clip']:g}")
    pretrain = data.get("pretrain")
    too = "; pre-training uses it too" if pretrain is not None and pretrain.get("optimizer") is None else ""
    for target, lr in SWAP_OPTIMIZERS.items():
        if target == name:
            continue
        new = {
            "name": target,
            "lr": lr,
            "weight_decay": current.get("weight_decay", 0.0),
            "grad_clip": current.get("grad_clip"),
        }
        if target == "momentum":
            new["momentum"] = 0.9
        out = _copy(data)
        out["train"]["optimizer"] = new
        extra = " 0.9" if target == "momentum" else ""
        change = (
            f"{_OPTIMIZER_NAMES.get(name, name)} (lr {current['lr']:g}) → {_OPTIMIZER_NAMES[target]}{extra} "
            f"(lr {lr:g}, its customary rate)"
        )
        if kept:
            change += f"; {' and '.join(kept)} kept"
        yield f"optimizer:{target}", change + too, out


def _dropouts(data: dict) -> list[str]:
    """What switching the config's dropout off does, in words; empty: it has none."""
    where = []
    layers = [layer["dropout"]["p"] for _, layer in _walk(data["model"]["layers"]) if "dropout" in layer]
    if any(p > 0 for p in layers):
        ps = sorted({f"{p:g}" for p in layers if p > 0})
        where.append(f"{_plural(len(layers), 'dropout layer')} (p {', '.join(ps)}) removed")
    for name, what in (
        ("transformer_encoder", "the Transformer's"),
        ("lstm", "the LSTM's"),
        ("gru", "the GRU's"),
    ):
        ps = [layer[name]["dropout"] for _, layer in _walk(data["model"]["layers"]) if name in layer]
        if any(p > 0 for p in ps):
            where.append(f"{what} dropout {max(ps):g} set to 0")
    finetune = data.get("finetune") or {}
    adapter = finetune.get("adapter")
    if adapter and adapter.get("dropout", 0) > 0:
        where.append(f"the LoRA adapters' dropout {adapter['dropout']:g} set to 0")
    return where


def _dropout(data: dict, _: Mapping | None) -> Iterator[Derived]:
    where = _dropouts(data)
    top = data["model"]["layers"]
    if where:
        doomed = _removable(top, [path for path, layer in _walk(top) if "dropout" in layer])
        out = _remove(data, doomed)
        for _, layer in _walk(out["model"]["layers"]):
            name = _name(layer)
            if name in ("transformer_encoder", "lstm", "gru"):
                layer[name]["dropout"] = 0.0
            elif name == "dropout":
                layer["dropout"]["p"] = 0.0  # one alone in a residual block: kept, switched off
        adapter = (out.get("finetune") or {}).get("adapter")
        if adapter:
            adapter["dropout"] = 0.0
        yield "dropout:off", f"dropout off: {'; '.join(where)}", out
        return
    silent = [path for path, layer in _walk(top) if "dropout" in layer]
    if silent:
        out = _each_top(
            data, lambda layer: [{"dropout": {"p": DROPOUT_ON}}] if "dropout" in layer else [layer]
        )
        yield (
            "dropout:on",
            f"dropout on: p {DROPOUT_ON:g} in the {_plural(len(silent), 'dropout layer')} at p 0",
            out,
        )
        return
    head = max((i for i, layer in enumerate(top) if "linear" in layer), default=None)
    if head is None or len(top) >= MAX_TOP_LAYERS or sum(1 for _ in _walk(top)) >= MAX_LAYERS:
        return  # no head to put it before, or no room for one more layer
    layers = [*top[:head], {"dropout": {"p": DROPOUT_ON}}, *top[head:]]
    origin = [*range(head), None, *range(head, len(top))]
    before = f" (after {_describe(top[head - 1])})" if head else ""
    yield (
        "dropout:on",
        f"dropout on: a dropout layer of p {DROPOUT_ON:g} before the head{before}",
        _with_layers(data, _copy(layers), origin),
    )


def _scheduler(data: dict, _: Mapping | None) -> Iterator[Derived]:
    train = data["train"]
    name = train["scheduler"]["name"]
    pretrain = data.get("pretrain")
    too = (
        "; pre-training follows it too" if pretrain is not None and pretrain.get("scheduler") is None else ""
    )
    out = _copy(data)
    lr = train["optimizer"]["lr"]
    if name != "constant":
        out["train"]["scheduler"] = {"name": "constant"}
        yield (
            "scheduler:off",
            f"{_SCHEDULER_NAMES.get(name, name)} → a constant learning rate of {lr:g}{too}",
            out,
        )
    else:
        out["train"]["scheduler"] = dict(SCHEDULE_ON)
        yield (
            "scheduler:on",
            f"a constant learning rate → the cosine schedule (from {lr:g} down to 0 over the {train['epochs']} epochs){too}",
            out,
        )


def _separable(data: dict, _: Mapping | None) -> Iterator[Derived]:
    top = data["model"]["layers"]
    convs = [(path, layer) for path, layer in _walk(top) if _name(layer) in ("conv2d", "separable_conv2d")]
    separable = [path for path, layer in convs if "separable_conv2d" in layer]
    if separable:

        def plain(layer: dict) -> list[dict]:
            if "separable_conv2d" not in layer:
                return [layer]
            params = {k: v for k, v in layer["separable_conv2d"].items() if k != "multiplier"}
            return [{"conv2d": params}]

        yield (
            "separable:to-conv2d",
            f"{_plural(len(separable), 'depthwise separable convolution')} → plain conv2d (same channels, kernel and stride)",
            _each_top(data, plain),
        )
    # The network's first convolution stays plain, as in MobileNet: a depthwise filter over the
    # input's one to three channels has almost nothing to separate. 1x1 convolutions are pointwise already.
    first = convs[0][0] if convs else None
    targets = [
        path for path, layer in convs if "conv2d" in layer and path != first and layer["conv2d"]["kernel"] > 1
    ]
    if targets:
        chosen = set(targets)
        out = _copy(data)
        for path, layer in _walk(out["model"]["layers"]):
            if path in chosen:
                layer["separable_conv2d"] = {**layer.pop("conv2d"), "multiplier": 1}
        kept = " (the first convolution kept plain)" if first is not None and first not in chosen else ""
        yield "separable:to-separable", f"{_plural(len(targets), 'conv2d')} → depthwise separable{kept}", out


def _finetune(data: dict, _: Mapping | None) -> Iterator[Derived]:
    pretrain = data.get("pretrain")
    finetune = data.get("finetune")
    from_submission = (finetune or {}).get("from_submission")
    if pretrain is None and from_submission is None:
        return
    parsed = load_config(data)
    mode = parsed.finetune.effective_mode if parsed.finetune is not None else "full"
    source = (
        f"pre-trained on {pretrain['dataset']}"
        if pretrain is not None
        else f"from entry {from_submission}'s weights"
    )
    top = data["model"]["layers"]
    head = max((i for i, layer in enumerate(top) if "linear" in layer), default=None)
    # LoRA adapts the layers below the head (workers.lora): those of each kind it targets.
    below = [layer for path, layer in _walk(top) if head is None or path != (head,)]
    kinds = []
    if any(_name(layer) in ("linear", "transformer_encoder") for layer in below):
        kinds.append("linear")
    if any(_name(layer) in ("conv2d", "separable_conv2d") for layer in below):
        kinds.append("conv2d")

    def with_mode(spec: dict) -> dict:
        out = _copy(data)
        out["finetune"] = {**spec, "from_submission": from_submission}
        return out

    now = _MODE_NAMES[mode]
    if mode != "lora" and head is not None and kinds:
        adapter = {**LORA_ON, "targets": kinds}
        yield (
            "finetune:lora",
            f"{now} → LoRA (rank {LORA_ON['rank']}, alpha {LORA_ON['alpha']:g}, on {' and '.join(kinds)}) with the backbone frozen",
            with_mode({"mode": "lora", "adapter": adapter, "freeze": "backbone"}),
        )
    if mode != "full":
        yield (
            "finetune:full",
            f"{now} → full fine-tuning: every layer trains",
            with_mode({"mode": "full", "freeze": "none"}),
        )
    if mode != "head" and head is not None:
        yield (
            "finetune:head",
            f"{now} → fine-tuning the head only (the backbone frozen, no adapters)",
            with_mode({"mode": "head"}),
        )
    out = _copy(data)
    out["pretrain"] = None
    out["finetune"] = None
    yield "finetune:scratch", f"from scratch: the same network trained on this data alone, not {source}", out


def _is_image(data: dict, manifest: Mapping | None) -> bool:
    if manifest is not None:
        return len(manifest.get("input_shape") or ()) == 3
    return any(_name(layer) in _IMAGE_LAYERS for _, layer in _walk(data["model"]["layers"]))


def _augment(data: dict, manifest: Mapping | None) -> Iterator[Derived]:
    parsed = load_config(data)
    augment = parsed.train.augment
    active = augment is not None and (augment.trains or augment.tta != "none")
    if active:
        what = [
            name
            for name in ("crop", "flip", "color_jitter", "cutout", "mix")
            if getattr(augment, name) is not None
        ]
        if augment.mix is not None:
            what[-1] = augment.mix.name
        if augment.tta != "none":
            what.append("test-time flips")
        out = _copy(data)
        out["train"]["augment"] = None
        words = [w.replace("_", " ") for w in what]
        listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
        yield "augment:off", f"augmentation off: no {listed}", out
        return
    if not _is_image(data, manifest):
        return
    shape = tuple(manifest["input_shape"]) if manifest is not None else None
    # An eighth of the image's side, as 4 pixels of CIFAR's 32: 1 pixel on the 8x8 digits.
    padding = max(1, min(shape[1:]) // 8) if shape else 1
    out = _copy(data)
    tta = (data["train"].get("augment") or {}).get("tta", "none")
    out["train"]["augment"] = {"crop": {"padding": padding}, "flip": dict(FLIP_ON), "tta": tta}
    yield (
        "augment:on",
        f"augmentation on: random crops (padding {padding}) and left-right flips of every training batch",
        out,
    )


_FAMILIES: dict[str, Callable[[dict, Mapping | None], Iterable[Derived]]] = {
    "activation": _activation,
    "batchnorm": _batchnorm,
    "residual": _residual,
    "init": _init,
    "optimizer": _optimizer,
    "dropout": _dropout,
    "scheduler": _scheduler,
    "separable": _separable,
    "finetune": _finetune,
    "augment": _augment,
}
assert tuple(_FAMILIES) == ABLATION_TECHNIQUES


# ---------------------------------------------------------------- the variants


def ablation_variants(
    config: Mapping[str, Any] | ModelConfig,
    *,
    manifest: Mapping[str, Any] | None = None,
    sweep_variant: int | None = None,
) -> list[AblationVariant]:
    """Every one-technique change that applies to `config`, in a stable order (the families of
    ABLATION_TECHNIQUES, then each family's own), none equal to the original or to another.
    Raises ConfigError when `config` is not a valid config. `manifest` (the dataset's, optional)
    decides whether the input is an image, for augmentation, and its crop's padding; without it
    a config with a 2-D convolution or pooling layer is taken to read images. A sweep is
    ablated at `sweep_variant` (`ablation_base`)."""
    parsed = load_config(config)
    base = ablation_base(parsed, sweep_variant=sweep_variant)
    note = _one_model_note(parsed, sweep_variant)
    seen = {_fingerprint(base)}
    out = []
    for technique, derive in _FAMILIES.items():
        for key, change, derived in derive(base, manifest):
            normal = load_config(derived).model_dump(mode="json")
            fingerprint = _fingerprint(normal)
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            out.append(AblationVariant(key, technique, change + note, normal))
    return out


def _fingerprint(data: dict) -> str:
    """Equal for equal configs: to leave out a variant equal to the original or to another."""
    return json.dumps(data, sort_keys=True)


def variant_by_key(
    config: Mapping[str, Any] | ModelConfig,
    key: str,
    *,
    path: str | None = None,
    manifest: Mapping[str, Any] | None = None,
    sweep_variant: int | None = None,
) -> AblationVariant:
    """The variant of `config` with this key; raises ConfigError naming the key (at `path`) when
    the config has none such."""
    return variants_by_keys(
        config, [key], path=path, manifest=manifest, sweep_variant=sweep_variant, indexed=False
    )[0]


def variants_by_keys(
    config: Mapping[str, Any] | ModelConfig,
    keys: Sequence[Any],
    *,
    path: str | None = "variants",
    manifest: Mapping[str, Any] | None = None,
    sweep_variant: int | None = None,
    indexed: bool = True,
) -> list[AblationVariant]:
    """The variants the owner picked, in the order given; raises ConfigError with a problem for
    each key that is not one of the config's (at `path[i]`), repeated, or not text, and when
    none is picked."""
    variants = {v.key: v for v in ablation_variants(config, manifest=manifest, sweep_variant=sweep_variant)}
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        raise ConfigError([Problem("must be a list of variant keys", path=path)])
    problems: list[Problem] = []
    if not keys:
        problems.append(Problem("pick at least one variant", path=path))
    picked: list[AblationVariant] = []
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        where = f"{path}[{i}]" if indexed and path else path
        if not isinstance(key, str):
            problems.append(Problem(f"must be a variant's key (text), got {clip(key)}", path=where))
        elif key in first:
            problems.append(
                Problem(f"repeats {echo(key)} ({path}[{first[key]}]): each variant once", path=where)
            )
        elif key in variants:
            first[key] = i
            picked.append(variants[key])
        else:
            problems.append(Problem(_unknown(key, variants), path=where))
    if problems:
        raise ConfigError(problems)
    return picked


def _unknown(key: str, variants: Mapping[str, AblationVariant]) -> str:
    family = key.split(":", 1)[0]
    listed = ", ".join(variants) or "none"
    if family in ABLATION_TECHNIQUES:
        return f"no ablation {echo(key)} applies to this config; its ablations are: {listed}"
    return f"unknown ablation {echo(key)}; this config's ablations are: {listed}"


__all__ = [
    "ABLATION_TECHNIQUES",
    "AblationVariant",
    "ablation_base",
    "ablation_variants",
    "variant_by_key",
    "variants_by_keys",
]

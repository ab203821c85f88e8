"""The model-config schema (DESIGN.md, "The model config"), defined once.

`parse_config(text)` reads YAML or JSON into a `ModelConfig` or raises `ConfigError`
whose `.problems` name every mistake by its path (`model.layers[3].conv2d.kernel:
must be <= 7`). `validate_for_dataset` then checks the config against a dataset's
manifest and a competition's budget by shape inference and a parameter count, both
in pure Python: the web tier validates configs without torch, and this module never
imports it (nor `workers.build`, which builds the model the count describes).
`json_schema()` is what the API, the web editor and the CLI validate against.
"""

from __future__ import annotations

import copy
import difflib
import functools
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WrapValidator,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from common.problems import Problem, ProblemsError
from common.protocol import MAX_VARIANTS, Budget
from workers import techniques
from workers.techniques.adapters import LoRAParams
from workers.techniques.base import (
    TAG,
    Float,
    Int,
    Shape,
    ShapeContext,
    ShapeError,
    Stop,
    Weights,
    fmt_shape,
    kind_of,
    named_union,
)

MAX_CONFIG_BYTES = 100_000
MAX_LAYERS = 256  # all layers, nested ones included
MAX_NESTING = 4  # residual blocks inside residual blocks
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


# ---------------------------------------------------------------- problems


class ConfigError(ProblemsError):
    """A model config refused: `.problems` name each mistake by its path in the config."""

    subject = "the model config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- layers

_LAYERS = techniques.family("layer")
_ACTIVATIONS = techniques.family("activation")


def _all_defaults(t: techniques.Technique) -> bool:
    return t.params is not None and all(not f.is_required() for f in t.params.model_fields.values())


_BARE = sorted([n for n, t in _LAYERS.items() if _all_defaults(t)] + list(_ACTIVATIONS))


class LayerItem(_Strict):
    """One entry of a layer list: a one-key mapping {technique: params}."""

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {data: None} if isinstance(data, str) else data

    @property
    def technique(self) -> str:
        return next(iter(type(self).model_fields))

    @property
    def params(self) -> Any:
        return getattr(self, self.technique)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _layer_field(t: techniques.Technique) -> tuple[Any, Any]:
    if t.extra.get("container"):
        return (Annotated[list["Layer"], Field(min_length=1, max_length=32)], ...)
    return (t.extra.get("field_type") or t.params, ...)


LAYER_MODELS: dict[str, type[LayerItem]] = {
    name: create_model(
        f"{_camel(name)}Layer", __base__=LayerItem, __module__=__name__, **{name: _layer_field(t)}
    )
    for name, t in _LAYERS.items()
}


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


class UnknownLayer(BaseModel):
    """Receives every layer entry whose name is not in the registry, to say so once."""

    @model_validator(mode="before")
    @classmethod
    def _reject(cls, data: Any) -> Any:
        known = ", ".join(_LAYERS)
        if isinstance(data, dict) and len(data) > 1:
            keys = ", ".join(str(k) for k in data)
            raise PydanticCustomError(
                "layer_keys",
                "a layer is a mapping with one key, the layer's name; got {n} keys: {keys} "
                "(indent the parameters under the layer's name)",
                {"n": len(data), "keys": keys},
            )
        if isinstance(data, dict) and not data:
            raise PydanticCustomError(
                "layer_empty", "empty layer; expected a layer name, one of: {known}", {"known": known}
            )
        if isinstance(data, dict | str):
            name = str(next(iter(data))) if isinstance(data, dict) else data
            raise PydanticCustomError(
                "unknown_layer",
                "unknown layer '{name}'{hint}; expected one of: {known}",
                {"name": name, "hint": _suggest(name, list(_LAYERS) + list(_ACTIVATIONS)), "known": known},
            )
        raise PydanticCustomError(
            "layer_type", "must be a layer name or a one-key mapping {form}", {"form": "{name: params}"}
        )


def _layer_tag(value: Any) -> str:
    if isinstance(value, LayerItem):
        return TAG + value.technique
    if isinstance(value, str):
        if value in _BARE:
            return TAG + "bare"
        return TAG + value if value in _LAYERS else TAG + "?"
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if isinstance(key, str) and key in _LAYERS:
            return TAG + key
    return TAG + "?"


def _bare_to_model(value: Any) -> Any:
    if isinstance(value, str):
        if value in _ACTIVATIONS:
            return LAYER_MODELS["activation"].model_validate({"activation": value})
        return LAYER_MODELS[value].model_validate({value: None})
    return value


_layer_choices = [Annotated[m, Tag(TAG + n)] for n, m in LAYER_MODELS.items()]
_layer_choices.append(Annotated[Literal[tuple(_BARE)], Tag(TAG + "bare")])
_layer_choices.append(Annotated[UnknownLayer, Tag(TAG + "?")])
Layer = Annotated[
    Union[tuple(_layer_choices)],  # noqa: UP007
    Discriminator(_layer_tag),
    AfterValidator(_bare_to_model),
]
for _m in LAYER_MODELS.values():
    _m.model_rebuild()


# ---------------------------------------------------------------- sections

Init = named_union("initialiser", {n: t.params for n, t in techniques.family("init").items()})
Optimizer = named_union("optimizer", {n: t.params for n, t in techniques.family("optimizer").items()})
Scheduler = named_union("scheduler", {n: t.params for n, t in techniques.family("scheduler").items()})
Loss = named_union("loss", {n: t.params for n, t in techniques.family("loss").items()})


class ModelSpec(_Strict):
    init: Init = Field(default_factory=lambda: techniques.get("init", "default").params())
    # The last weighted or normalising layer of every residual block starts at zero, so each
    # block starts as the identity (Goyal et al., 2017; torchvision's zero_init_residual).
    zero_init_residual: bool = False
    layers: list[Layer] = Field(min_length=1, max_length=64)


class EarlyStopping(_Strict):
    patience: Int(1, 100) = 5
    min_delta: Float(ge=0.0, le=1000.0) = 0.0
    # val_loss, or metric: the competition's own metric on the validation rows, in its direction.
    monitor: Literal["val_loss", "metric"] = "val_loss"


class RandomCropSpec(_Strict):
    """Pad each side by `padding` pixels (zeros), then crop back to the image size at a random place."""

    padding: Int(1, 16) = 4


class FlipSpec(_Strict):
    """Mirror left-right with probability `p`."""

    p: Float(ge=0.0, le=1.0) = 0.5


class ColorJitterSpec(_Strict):
    """Random brightness, contrast, saturation (factors drawn in 1 +- each) and hue (a shift of
    up to `hue` of the colour circle), with probability `p`; saturation and hue need RGB."""

    brightness: Float(ge=0.0, le=1.0) = 0.2
    contrast: Float(ge=0.0, le=1.0) = 0.2
    saturation: Float(ge=0.0, le=1.0) = 0.2
    hue: Float(ge=0.0, le=0.5) = 0.0
    p: Float(ge=0.0, le=1.0) = 0.8


class CutoutSpec(_Strict):
    """Erase a random rectangle (to the mean: zero after standardising) of `min_area` to
    `max_area` of the image, with probability `p`."""

    p: Float(ge=0.0, le=1.0) = 0.5
    min_area: Float(ge=0.0, le=1.0) = 0.02
    max_area: Float(gt=0.0, le=1.0) = 0.25


class MixSpec(_Strict):
    """mixup: blend each image with another of the batch, weight of the other drawn in
    [0, max_lambda]; cutmix: paste a rectangle of another. The loss mixes both labels alike."""

    name: Literal["mixup", "cutmix"]
    p: Float(ge=0.0, le=1.0) = 0.5
    max_lambda: Float(gt=0.0, le=0.5) = 0.5


class AugmentSpec(_Strict):
    """Augmentation of image input, per batch on the training device, in this order: crop,
    flip, colour jitter, cutout, then mixup/cutmix. Never applied to validation or test rows;
    `tta: flip` averages the test predictions of each image and its mirror."""

    crop: RandomCropSpec | None = None
    flip: FlipSpec | None = None
    color_jitter: ColorJitterSpec | None = None
    cutout: CutoutSpec | None = None
    mix: MixSpec | None = None
    tta: Literal["none", "flip"] = "none"

    @property
    def trains(self) -> bool:
        """Whether any training-time augmentation is asked for."""
        return any(x is not None for x in (self.crop, self.flip, self.color_jitter, self.cutout, self.mix))


Epochs = Int(1, 1000)


class EnsembleSpec(_Strict):
    """Train the config with `seeds` seeds (seed, seed+1, ...) and average their predictions
    (class probabilities, or regression values). Every seed holds out the same validation rows."""

    seeds: Int(1, MAX_VARIANTS)


class TrainSpec(_Strict):
    epochs: Epochs = 10
    batch_size: Int(1, 4096) = 64
    optimizer: Optimizer = Field(default_factory=lambda: techniques.get("optimizer", "adam").params())
    scheduler: Scheduler = Field(default_factory=lambda: techniques.get("scheduler", "constant").params())
    validation_fraction: Float(ge=0.0, le=0.5) = 0.1
    early_stopping: EarlyStopping | None = None
    precision: Literal["fp32", "bf16"] = "fp32"
    loss: Loss | None = None  # None: cross_entropy for classification, mse for regression
    augment: AugmentSpec | None = None
    ensemble: EnsembleSpec | None = None
    # The seed of the validation split; None: the config's seed. An ensemble's seeds set it to
    # the entry's, so that they all hold out the same rows.
    validation_seed: Int(0, 2**31 - 1) | None = None


Slug = Annotated[str, Field(pattern=SLUG)]


class PretrainSpec(_Strict):
    dataset: Slug
    epochs: Int(1, 1000) = 5
    batch_size: Int(1, 4096) | None = None  # None: train.batch_size
    optimizer: Optimizer | None = None  # None: train.optimizer
    scheduler: Scheduler | None = None  # None: train.scheduler


def _one_freeze_error(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        if isinstance(value, list):
            raise  # item errors keep their index in the path
        raise PydanticCustomError("freeze", "must be backbone, none, or a list of layer indices") from exc


FreezeRule = Annotated[
    Union[Literal["backbone", "none"], Annotated[list[Int(0, 63)], Field(max_length=64)]],  # noqa: UP007
    WrapValidator(_one_freeze_error),
]


class FinetuneSpec(_Strict):
    """mode: full (train everything), head (train the head only), lora (frozen base +
    LoRA adapters + the head). Unset, it is lora when an adapter is given, else full.
    freeze unset: backbone for head and lora, none for full."""

    mode: Literal["full", "head", "lora"] | None = None
    adapter: LoRAParams | None = None
    freeze: FreezeRule | None = None
    from_submission: Int(1, 2**63 - 1) | None = None

    @property
    def effective_mode(self) -> str:
        return self.mode or ("lora" if self.adapter is not None else "full")

    @property
    def effective_adapter(self) -> LoRAParams | None:
        if self.effective_mode != "lora":
            return None
        return self.adapter or LoRAParams()

    @property
    def effective_freeze(self) -> str | list[int]:
        if self.effective_mode == "head":
            return "backbone"
        if self.freeze is not None:
            return self.freeze
        return "none" if self.effective_mode == "full" else "backbone"


def _like(model: type[BaseModel], name: str) -> Any:
    """The type of `model.name`, bounds included: a swept value obeys the field it sets."""
    field = model.model_fields[name]
    return Annotated[(field.annotation, *field.metadata)]


# What a sweep may vary, in the order a variant's label names them. The architecture, the batches
# and the seed stay the entry's, so its variants are one model trained several ways (and train
# packed, as one architecture).
SWEEPABLE = {
    "lr": "train.optimizer.lr",
    "weight_decay": "train.optimizer.weight_decay",
    "dropout": "the p of every dropout layer",
    "epochs": "train.epochs",
}
# Through the registry: the technique modules import torch in their builders, which the schema never does.
_OPTIMIZER = techniques.get("optimizer", "sgd").params  # every optimiser's lr and weight_decay bounds
LearningRate = _like(_OPTIMIZER, "lr")
WeightDecay = _like(_OPTIMIZER, "weight_decay")
DropoutRate = _like(techniques.get("layer", "dropout").params, "p")


def _values(kind: Any) -> Any:
    return Annotated[list[kind], Field(min_length=1, max_length=MAX_VARIANTS)] | None


class SweepGrid(_Strict):
    """Values of each hyper-parameter; the sweep trains every combination."""

    lr: _values(LearningRate) = None
    weight_decay: _values(WeightDecay) = None
    dropout: _values(DropoutRate) = None
    epochs: _values(Epochs) = None

    @model_validator(mode="after")
    def _some(self) -> SweepGrid:
        if not self.swept:
            raise ValueError(f"names no hyper-parameter; sweep one or more of: {', '.join(SWEEPABLE)}")
        return self

    @property
    def swept(self) -> dict[str, list]:
        return {name: getattr(self, name) for name in SWEEPABLE if getattr(self, name) is not None}


class SweepPoint(_Strict):
    """One variant of a sweep's list: the hyper-parameters it sets, the config's for the rest."""

    lr: LearningRate | None = None
    weight_decay: WeightDecay | None = None
    dropout: DropoutRate | None = None
    epochs: Epochs | None = None

    @model_validator(mode="after")
    def _some(self) -> SweepPoint:
        if not self.swept:
            raise ValueError(f"sets no hyper-parameter; set one or more of: {', '.join(SWEEPABLE)}")
        return self

    @property
    def swept(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SWEEPABLE if getattr(self, name) is not None}


class SweepSpec(_Strict):
    """Train several variants of the config and keep the one best on the validation rows (the
    hold-out of the training data; never the test set). `grid`: every combination of the
    values; `variants`: a list, each setting some hyper-parameters. `select`: the competition's
    metric on the validation rows (in its direction), or the validation loss."""

    grid: SweepGrid | None = None
    variants: Annotated[list[SweepPoint], Field(min_length=1, max_length=MAX_VARIANTS)] | None = None
    select: Literal["metric", "val_loss"] = "metric"

    @model_validator(mode="after")
    def _one_form(self) -> SweepSpec:
        if (self.grid is None) == (self.variants is None):
            raise ValueError("needs exactly one of grid (every combination) or variants (a list)")
        return self

    @property
    def points(self) -> list[dict[str, Any]]:
        """Each variant's hyper-parameters, in order: the grid's product (lr slowest), or the list."""
        if self.variants is not None:
            return [point.swept for point in self.variants]
        swept = self.grid.swept
        return [dict(zip(swept, combo, strict=True)) for combo in itertools.product(*swept.values())]

    @property
    def size(self) -> int:
        if self.variants is not None:
            return len(self.variants)
        return math.prod(len(values) for values in self.grid.swept.values())


class ModelConfig(_Strict):
    version: Literal[1]
    seed: Int(0, 2**31 - 1) = 0
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    pretrain: PretrainSpec | None = None
    finetune: FinetuneSpec | None = None
    sweep: SweepSpec | None = None


# ---------------------------------------------------------------- errors -> problems

# Every parameter name anywhere in the schema: the vocabulary for "did you mean" hints.
_FIELD_NAMES: set[str] = {
    name
    for model in [t.params for t in techniques.REGISTRY.values() if t.params is not None]
    + [ModelConfig, ModelSpec, TrainSpec, PretrainSpec, FinetuneSpec, EarlyStopping]
    + [AugmentSpec, RandomCropSpec, FlipSpec, ColorJitterSpec, CutoutSpec, MixSpec]
    + [EnsembleSpec, SweepSpec, SweepGrid]
    for name in model.model_fields
}


def _sweep_key_message(key: str) -> str:
    """A name a sweep does not take: a setting it may not vary, or no setting at all."""
    sweepable = ", ".join(SWEEPABLE)
    if key == "seed":
        return "is not sweepable: to train several seeds, use train.ensemble: {seeds: N}"
    if key in _FIELD_NAMES:
        return (
            f"is not sweepable: a sweep varies {sweepable} (its variants keep the entry's "
            "architecture, batches and seed)"
        )
    return f"unknown hyper-parameter{_suggest(key, SWEEPABLE)}; a sweep varies {sweepable}"


def _message(err: dict[str, Any], key: Any, owner: str | None = None) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "missing": "is required",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "recursion_loop": "is nested too deeply",
    }
    if kind in simple:
        return simple[kind]
    loc = err.get("loc") or ()
    if kind == "extra_forbidden" and len(loc) >= 3 and loc[0] == "sweep" and loc[1] in ("grid", "variants"):
        return _sweep_key_message(str(key))
    if kind == "extra_forbidden":
        text = f"unknown field of {owner}" if owner else "unknown field"
        if str(key) in _FIELD_NAMES:
            return text  # a real parameter, just not of this technique
        return text + _suggest(str(key), _FIELD_NAMES)
    bounds = {
        "less_than_equal": ("<=", "le"),
        "greater_than_equal": (">=", "ge"),
        "less_than": ("<", "lt"),
        "greater_than": (">", "gt"),
    }
    if kind in bounds:
        op, name = bounds[kind]
        return f"must be {op} {ctx[name]}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item{'s' if ctx['min_length'] != 1 else ''}"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == SLUG:
            return "must be a dataset slug (lowercase letters, digits, - and _)"
        return f"must match {ctx.get('pattern')}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def _path(loc: tuple[Any, ...], raw: Any) -> tuple[str, Any]:
    """Human path of a pydantic location. Union tags are dropped; where the user
    wrote a shorthand scalar (`dropout: 0.2`), the path stops at that scalar."""
    parts: list[Any] = []
    node, walking = raw, True
    for c in loc:
        if isinstance(c, str) and c.startswith(TAG):
            continue
        if walking:
            if isinstance(node, dict):
                if c in node:
                    node = node[c]
                else:
                    walking = False
            elif isinstance(node, list) and isinstance(c, int) and 0 <= c < len(node):
                node = node[c]
            elif isinstance(node, str) and c == node:
                node = None  # a bare layer name: its parameters were left out
            elif node is None:
                walking = False
            else:
                break  # a shorthand scalar: blame the scalar itself
        parts.append(c)
    text = ""
    for c in parts:
        text += f"[{c}]" if isinstance(c, int) else (f".{c}" if text else str(c))
    return text, parts[-1] if parts else None


def _problems_from(exc: ValidationError, raw: Any) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path, key = _path(loc, raw)
        tags = [c[len(TAG) :] for c in loc[:-1] if isinstance(c, str) and c.startswith(TAG)]
        owner = tags[-1] if tags and tags[-1] not in ("?", "bare") else None
        problem = Problem(_message(err, key, owner), path=path or None)
        if problem not in out:
            out.append(problem)
    return out


# ---------------------------------------------------------------- parsing


class _NoAliases(yaml.SafeLoader):
    """Anchors and aliases let a few bytes expand into huge structures; configs never need them."""

    def compose_node(self, parent, index):  # noqa: D401
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "anchors and aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)


MAX_BRACKETS = 64


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _load_text(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError([Problem("the config is not UTF-8 text")]) from None
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise ConfigError([Problem(f"the config is larger than {MAX_CONFIG_BYTES // 1000} kB")])
    if not text.strip():
        raise ConfigError([Problem("the config is empty")])
    if _bracket_depth(text) > MAX_BRACKETS:
        # The YAML parser recurses per level: refuse pathological nesting before it does.
        raise ConfigError([Problem("the config is nested too deeply")])
    try:
        if text.lstrip().startswith("{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    [Problem(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
                ) from None
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(f"not valid YAML: {what}{where}")]) from None
    except RecursionError:
        raise ConfigError([Problem("the config is nested too deeply")]) from None


def parse_config(text: str | bytes) -> ModelConfig:
    """YAML or JSON text -> ModelConfig; raises ConfigError listing every problem."""
    return load_config(_load_text(text))


def load_config(data: Any) -> ModelConfig:
    """An already-decoded mapping (e.g. a JSON request body) -> ModelConfig."""
    if isinstance(data, ModelConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError([Problem("the config must be a mapping with version, model and train")])
    try:
        config = ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc, data)) from None
    except RecursionError:
        raise ConfigError([Problem("the config is nested too deeply")]) from None
    problems = _semantic_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def iter_layers(layers: list[LayerItem], prefix: str = "model.layers", depth: int = 1):
    """(path, depth, item) for every layer, nested ones included, in order."""
    for i, item in enumerate(layers):
        path = f"{prefix}[{i}].{item.technique}"
        yield path, depth, item
        if item.technique == "residual":
            yield from iter_layers(item.params, path, depth + 1)


def _semantic_problems(config: ModelConfig) -> list[Problem]:
    """Rules between fields, checked once the types are right."""
    out: list[Problem] = []
    count = 0
    for path, depth, item in iter_layers(config.model.layers):
        count += 1
        if depth == MAX_NESTING + 1 and item.technique == "residual":
            out.append(Problem(f"residual blocks nest at most {MAX_NESTING} deep", path=path))
        check = getattr(item.params, "problems", None)
        if check is not None:
            out.extend(Problem(msg, path=f"{path}.{sub}" if sub else path) for sub, msg in check())
    if count > MAX_LAYERS:
        out.append(Problem(f"has {count} layers in all, more than {MAX_LAYERS}", path="model.layers"))

    if config.model.init.name == "zeros":
        out.append(
            Problem(
                "zeros for every layer leaves all units of a layer identical, so they never learn apart; "
                "give init: zeros to single layers (e.g. the head) instead",
                path="model.init",
            )
        )
    if config.model.zero_init_residual and not any(
        item.technique == "residual" for _, _, item in iter_layers(config.model.layers)
    ):
        out.append(Problem("the model has no residual block", path="model.zero_init_residual"))

    train = config.train
    batchnorm = next(
        (p for p, _, item in iter_layers(config.model.layers) if item.technique == "batchnorm"), None
    )
    if batchnorm is not None and train.batch_size < 2:
        out.append(Problem(f"must be >= 2: {batchnorm} normalises over the batch", path="train.batch_size"))
    warm = getattr(train.scheduler, "warmup_epochs", 0)
    if warm and warm >= train.epochs:
        out.append(
            Problem(f"must be less than train.epochs ({train.epochs})", path="train.scheduler.warmup_epochs")
        )
    pre = config.pretrain
    if pre is not None:
        if batchnorm is not None and pre.batch_size is not None and pre.batch_size < 2:
            out.append(
                Problem(f"must be >= 2: {batchnorm} normalises over the batch", path="pretrain.batch_size")
            )
        # Pre-training runs its own schedule, or train's when it has none: a warm-up as long
        # as the phase would leave the learning rate climbing until pre-training ends.
        own = pre.scheduler is not None
        warm = getattr(pre.scheduler if own else train.scheduler, "warmup_epochs", 0)
        if warm and warm >= pre.epochs:
            if own:
                out.append(
                    Problem(
                        f"must be less than pretrain.epochs ({pre.epochs})",
                        path="pretrain.scheduler.warmup_epochs",
                    )
                )
            else:
                out.append(
                    Problem(
                        f"must be more than the {warm}-epoch warm-up of train.scheduler, which pre-training "
                        "uses too; give pretrain a scheduler of its own, or more epochs",
                        path="pretrain.epochs",
                    )
                )
    cutout = train.augment.cutout if train.augment is not None else None
    if cutout is not None and cutout.min_area > cutout.max_area:
        out.append(Problem(f"must be <= max_area ({cutout.max_area})", path="train.augment.cutout.min_area"))
    if train.early_stopping is not None and train.validation_fraction == 0:
        out.append(
            Problem("needs a validation split (train.validation_fraction > 0)", path="train.early_stopping")
        )

    ft = config.finetune
    if ft is not None:
        if config.pretrain is None and ft.from_submission is None:
            out.append(
                Problem(
                    "needs pretrain (a dataset) or from_submission (an earlier entry's weights)",
                    path="finetune",
                )
            )
        if config.pretrain is not None and ft.from_submission is not None:
            out.append(
                Problem(
                    "cannot be combined with pretrain; choose one starting point",
                    path="finetune.from_submission",
                )
            )
        if ft.effective_mode == "head" and ft.freeze not in (None, "backbone"):
            out.append(
                Problem(
                    "mode head trains the head alone; leave freeze out or set it to backbone",
                    path="finetune.freeze",
                )
            )
        if ft.adapter is not None and ft.effective_mode != "lora":
            out.append(Problem(f"needs mode: lora (mode is {ft.effective_mode})", path="finetune.adapter"))
        if isinstance(ft.freeze, list):
            n = len(config.model.layers)
            for i, index in enumerate(ft.freeze):
                if index >= n:
                    out.append(
                        Problem(
                            f"no layer {index}; model.layers has {n} (0 to {n - 1})",
                            path=f"finetune.freeze[{i}]",
                        )
                    )
        adapter = ft.effective_adapter
        if adapter is not None:
            present = {item.technique for _, _, item in iter_layers(config.model.layers)}
            has = {
                "linear": bool(present & {"linear", "transformer_encoder"}),
                "conv2d": bool(present & {"conv2d", "separable_conv2d"}),
            }
            if not any(has[t] for t in adapter.targets):
                out.append(
                    Problem(
                        f"the model has no {' or '.join(adapter.targets)} layer to adapt",
                        path="finetune.adapter.targets",
                    )
                )
    out.extend(_variant_problems(config))
    return out


# ---------------------------------------------------------------- variants: sweeps and ensembles


@dataclass(frozen=True)
class Variant:
    """One model of an entry: the config it trains (no sweep, no ensemble left in it) and what
    sets it apart from the entry's other variants."""

    index: int  # from 0: the epoch records' `variant`
    label: str  # "lr=0.003, dropout=0.2", "seed 2"; "" for an entry of one model
    overrides: dict[str, Any]  # {"lr": 0.003, "dropout": 0.2} or {"seed": 2}
    config: ModelConfig


def variants_kind(config: ModelConfig) -> Literal["sweep", "ensemble"] | None:
    """What the entry does with several models; None: it trains one."""
    if config.sweep is not None:
        return "sweep"
    if config.train.ensemble is not None and config.train.ensemble.seeds > 1:
        return "ensemble"
    return None


def variant_count(config: ModelConfig) -> int:
    if config.sweep is not None:
        return config.sweep.size
    return config.train.ensemble.seeds if config.train.ensemble is not None else 1


def variant_epochs(config: ModelConfig) -> list[int]:
    """Each variant's training epochs (pre-training's are the same for every variant)."""
    if config.sweep is not None:
        return [point.get("epochs", config.train.epochs) for point in config.sweep.points]
    return [config.train.epochs] * variant_count(config)


def _label(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in overrides.items())


def _set_dropout(layers: list, p: float) -> None:
    for layer in layers:
        ((name, params),) = layer.items()
        if name == "dropout":
            params["p"] = p
        elif name == "residual":
            _set_dropout(params, p)


def expand_variants(config: ModelConfig) -> list[Variant]:
    """The models the entry trains, in order: one for a plain config; the sweep's points
    (a grid's product, lr varying slowest); or the ensemble's seeds."""
    kind = variants_kind(config)
    if kind is None:
        return [Variant(0, "", {}, config)]
    base = config.model_dump(mode="json")
    base["sweep"] = None
    base["train"]["ensemble"] = None
    if kind == "ensemble":
        # The same validation rows for every seed: their curves compare, and no seed is
        # scored on rows that another trained on.
        split = config.train.validation_seed if config.train.validation_seed is not None else config.seed
        base["train"]["validation_seed"] = split
        out = []
        for i in range(config.train.ensemble.seeds):
            seed = (config.seed + i) % 2**31
            data = copy.deepcopy(base)
            data["seed"] = seed
            out.append(Variant(i, f"seed {seed}", {"seed": seed}, ModelConfig.model_validate(data)))
        return out
    out = []
    for i, point in enumerate(config.sweep.points):
        data = copy.deepcopy(base)
        optimizer = data["train"]["optimizer"]
        for name, value in point.items():
            if name in ("lr", "weight_decay"):
                optimizer[name] = value
            elif name == "epochs":
                data["train"]["epochs"] = value
            elif name == "dropout":
                _set_dropout(data["model"]["layers"], value)
        out.append(Variant(i, _label(point), dict(point), ModelConfig.model_validate(data)))
    return out


def _sweep_values(sweep: SweepSpec):
    """(path, name, value) of every value the sweep names, where the participant wrote it."""
    if sweep.grid is not None:
        for name, values in sweep.grid.swept.items():
            for i, value in enumerate(values):
                yield f"sweep.grid.{name}[{i}]", name, value
    else:
        for i, point in enumerate(sweep.variants):
            for name, value in point.swept.items():
                yield f"sweep.variants[{i}].{name}", name, value


def _variant_problems(config: ModelConfig) -> list[Problem]:
    """A sweep's and an ensemble's rules: the variants they make must each be a config that trains."""
    sweep = config.sweep
    out: list[Problem] = []
    if sweep is not None and config.train.ensemble is not None:
        out.append(
            Problem(
                "cannot be combined with train.ensemble: a sweep keeps one of its variants, an ensemble "
                "averages several seeds of one; choose one",
                path="sweep",
            )
        )
    if sweep is None:
        return out
    if sweep.size > MAX_VARIANTS:
        sizes = " × ".join(str(len(v)) for v in sweep.grid.swept.values())
        out.append(
            Problem(
                f"makes {sweep.size} variants ({sizes}); a sweep has at most {MAX_VARIANTS}",
                path="sweep.grid",
            )
        )
    if config.train.validation_fraction == 0:
        out.append(
            Problem(
                "chooses its variant on the validation rows: needs train.validation_fraction > 0",
                path="sweep",
            )
        )
    has_dropout = any(item.technique == "dropout" for _, _, item in iter_layers(config.model.layers))
    warm = getattr(config.train.scheduler, "warmup_epochs", 0)
    seen: dict[tuple, str] = {}
    for path, name, value in _sweep_values(sweep):
        if name == "dropout" and not has_dropout:
            out.append(
                Problem("the model has no dropout layer to set; add one, e.g. dropout: {p: 0.2}", path=path)
            )
        if name == "epochs" and warm and value <= warm:
            out.append(Problem(f"must be more than the {warm}-epoch warm-up of train.scheduler", path=path))
        if sweep.grid is not None:
            key = (name, value)
            if key in seen:
                out.append(Problem(f"repeats {value:g} ({seen[key]}): each value once", path=path))
            seen.setdefault(key, path)
    if sweep.variants is not None:
        firsts: dict[tuple, int] = {}
        for i, point in enumerate(sweep.points):
            key = tuple(sorted(point.items()))
            if key in firsts:
                out.append(
                    Problem(
                        f"is the same as variants[{firsts[key]}]: each variant once",
                        path=f"sweep.variants[{i}]",
                    )
                )
            firsts.setdefault(key, i)
    return out


# ---------------------------------------------------------------- against a dataset


def n_outputs_for(manifest: Mapping[str, Any]) -> int:
    """Width of the network's output: one logit per class, or 1 for regression."""
    if manifest.get("task_type") == "regression":
        return 1
    return len(manifest.get("classes") or ())


def infer_shapes(
    layers: list[LayerItem],
    shape: Shape,
    ctx: ShapeContext,
    problems: list[Problem],
    prefix: str = "model.layers",
) -> Shape | None:
    """Walk the layers from `shape`; the output shape, or None after recording a problem."""
    fresh = ctx.at_input
    for i, item in enumerate(layers):
        name = item.technique
        path = f"{prefix}[{i}].{name}"
        tech = _LAYERS[name]
        ctx.at_input = fresh
        if tech.extra.get("container"):
            ctx.infer_layers = partial(_infer_nested, ctx=ctx, problems=problems, prefix=path)
        try:
            shape = tech.infer(item.params, shape, ctx)
        except ShapeError as exc:
            problems.append(Problem(exc.message, path=f"{path}.{exc.subpath}" if exc.subpath else path))
            return None
        except Stop:
            return None
        fresh = False
    ctx.at_input = False
    return shape


def _infer_nested(layers, shape, *, ctx, problems, prefix):
    return infer_shapes(layers, shape, ctx, problems, prefix)


def _weigh(layers: list[LayerItem], shape: Shape, ctx: ShapeContext) -> tuple[list[list[Weights]], Shape]:
    """The Weights of each layer's module, and the output shape, for layers whose shapes
    output_shape() has checked."""
    per_layer = []
    for item in layers:
        per_layer.append(_LAYERS[item.technique].weights(item.params, shape, ctx))
        shape = infer_shapes([item], shape, ctx, [])
    return per_layer, shape


def _weigh_nested(layers, shape, *, ctx):
    per_layer, out = _weigh(layers, shape, ctx)
    return [w for weights in per_layer for w in weights], out


def count_parameters(
    config: ModelConfig,
    input_shape: Iterable[int],
    n_outputs: int,
    *,
    with_adapters: bool = False,
    inputs: Mapping[str, Any] | None = None,
) -> int:
    """The number of parameters `workers.build.build_model` gives the config, counted
    without building it (nothing allocated, no torch); raises ConfigError where a layer
    cannot take its input. `with_adapters`: also the LoRA adapters fine-tuning adds
    (`workers.lora.prepare_finetune`), which wrap every target layer but the head."""
    shape = tuple(int(s) for s in input_shape)
    output_shape(config, shape, n_outputs, inputs=inputs)  # raises ConfigError with paths
    ctx = ShapeContext(n_outputs, at_input=True, inputs=inputs)
    ctx.weigh_layers = partial(_weigh_nested, ctx=ctx)
    layers = config.model.layers
    per_layer, _ = _weigh(layers, shape, ctx)
    n = sum(w.numel for weights in per_layer for w in weights)
    adapter = config.finetune.effective_adapter if with_adapters and config.finetune else None
    if adapter is not None:
        head = max((i for i, item in enumerate(layers) if item.technique == "linear"), default=None)
        n += sum(
            adapter.rank * (w.fan_in + w.fan_out)
            for i, weights in enumerate(per_layer)
            if i != head
            for w in weights
            if w.lora in adapter.targets
        )
    return n


# Layers that apply their weights at every step of their input sequence (or patch grid),
# whatever their output; and the one that only looks rows up.
_SEQUENCE_READERS = frozenset({"lstm", "gru", "transformer_encoder", "attention_pool"})
_LOOKUPS = frozenset({"embedding"})


def count_multiply_adds(
    config: ModelConfig,
    input_shape: Iterable[int],
    n_outputs: int,
    *,
    inputs: Mapping[str, Any] | None = None,
) -> int:
    """Multiply-adds of one example's forward pass (the "FLOPs" of papers, halved), counted
    without torch like the parameters: each module's weights times the positions it is applied
    at (a convolution's or a BatchNorm's output pixels or steps, a sequence layer's input
    steps, once for a linear layer); an embedding's lookups count none, and attention's
    token-by-token products are left out. Raises ConfigError like count_parameters."""
    shape = tuple(int(s) for s in input_shape)
    output_shape(config, shape, n_outputs, inputs=inputs)
    ctx = ShapeContext(n_outputs, at_input=True, inputs=inputs)
    ctx.weigh_layers = partial(_weigh_nested, ctx=ctx)
    return _multiply_adds(config.model.layers, shape, ctx)


def _positions(shape: Shape) -> int:
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def _multiply_adds(layers: list[LayerItem], shape: Shape, ctx: ShapeContext) -> int:
    total = 0
    for item in layers:
        tech = _LAYERS[item.technique]
        # Weighed before the shape walk moves on: the first layer (an embedding) is told it
        # reads the dataset's input, as in _weigh.
        weights = sum(w.numel for w in tech.weights(item.params, shape, ctx))
        if tech.extra.get("container"):
            inner, out = _weigh(item.params, shape, ctx)
            projection = weights - sum(w.numel for ws in inner for w in ws)
            total += _multiply_adds(item.params, shape, ctx) + projection * _positions(out)
        out = infer_shapes([item], shape, ctx, [])
        if not tech.extra.get("container") and item.technique not in _LOOKUPS:
            total += weights * _positions(shape if item.technique in _SEQUENCE_READERS else out)
        shape = out
    return total


def output_shape(
    config: ModelConfig,
    input_shape: Iterable[int],
    n_outputs: int,
    *,
    inputs: Mapping[str, Any] | None = None,
) -> Shape:
    """The network's output shape; raises ConfigError when a layer cannot take its input.
    `inputs`: the manifest's description of token or categorical input."""
    problems: list[Problem] = []
    out = infer_shapes(
        config.model.layers,
        tuple(input_shape),
        ShapeContext(n_outputs, at_input=True, inputs=inputs),
        problems,
    )
    if out is None:
        raise ConfigError(problems)
    return out


def _last_width_layer(layers: list[LayerItem]) -> tuple[int, LayerItem] | None:
    keep_width = {"activation", "dropout", "batchnorm", "layernorm"}
    for i in range(len(layers) - 1, -1, -1):
        if layers[i].technique not in keep_width:
            return i, layers[i]
    return None


def validate_for_dataset(
    config: ModelConfig,
    manifest: Mapping[str, Any],
    *,
    budget: Budget | None = None,
    allowed_pretrain: Iterable[str] = (),
    pretrain_manifests: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Problem]:
    """Every problem of `config` on this dataset and budget (empty list: fine).
    `budget`: the competition's; None: no limits.
    `allowed_pretrain`: slugs, or {slug: manifest} to check that input shapes match."""
    problems: list[Problem] = []
    slug = str(manifest.get("slug", "the dataset"))
    shape = tuple(int(s) for s in manifest["input_shape"])
    n_out = n_outputs_for(manifest)
    if n_out < 1:
        problems.append(Problem(f"dataset '{slug}' lists no classes"))
        return problems

    inputs = manifest.get("inputs") or {}
    first = config.model.layers[0].technique if config.model.layers else None
    if inputs.get("kind") == "tokens" and first != "embedding":
        # Token ids are names, not quantities: a layer that multiplies them learns nothing.
        problems.append(
            Problem(
                f"dataset '{slug}' is text (token ids): start with embedding: {{dim: 64}}",
                path="model.layers[0]",
            )
        )
        return problems
    ctx = ShapeContext(n_out, dataset=slug, at_input=True, inputs=inputs or None)
    out = infer_shapes(config.model.layers, shape, ctx, problems)
    shapes_ok = out is not None
    if out is not None:
        needs = (
            "1 output (regression)"
            if manifest.get("task_type") == "regression"
            else f"{n_out} outputs (its classes)"
        )
        if len(out) != 1:
            problems.append(
                Problem(
                    f"the network ends with {kind_of(out)} output {fmt_shape(out)}; dataset '{slug}' needs {needs}: "
                    "end with linear: {units: auto}",
                    path="model.layers",
                )
            )
            shapes_ok = False
        elif out[0] != n_out:
            last = _last_width_layer(config.model.layers)
            if last is not None and last[1].technique == "linear":
                problems.append(
                    Problem(
                        f"must be {n_out} or auto: dataset '{slug}' needs {needs}",
                        path=f"model.layers[{last[0]}].linear.units",
                    )
                )
            else:
                problems.append(
                    Problem(
                        f"the network ends with {out[0]} outputs; dataset '{slug}' needs {needs}",
                        path="model.layers",
                    )
                )
            shapes_ok = False

    problems.extend(_loss_problems(config, manifest, slug))
    problems.extend(_augment_problems(config.train.augment, manifest, shape))

    limits = budget or Budget()
    if variant_count(config) > 1:
        problems.extend(variant_budget_problems(config, limits))
    elif limits.epochs is not None:
        if config.train.epochs > limits.epochs:
            problems.append(
                Problem(f"must be <= {limits.epochs} (the competition's budget)", path="train.epochs")
            )
        if config.pretrain is not None and config.pretrain.epochs > limits.epochs:
            problems.append(
                Problem(f"must be <= {limits.epochs} (the competition's budget)", path="pretrain.epochs")
            )

    if isinstance(allowed_pretrain, Mapping) and pretrain_manifests is None:
        pretrain_manifests = allowed_pretrain  # {slug: manifest}
    if config.pretrain is not None:
        allowed = sorted(set(allowed_pretrain))
        name = config.pretrain.dataset
        if name not in allowed:
            hint = (
                f"allowed: {', '.join(allowed)}"
                if allowed
                else "this competition allows no pre-training dataset"
            )
            problems.append(
                Problem(f"'{name}' is not allowed for pre-training here; {hint}", path="pretrain.dataset")
            )
        elif pretrain_manifests and name in pretrain_manifests:
            other = tuple(int(s) for s in pretrain_manifests[name]["input_shape"])
            if other != shape:
                problems.append(
                    Problem(
                        f"'{name}' has input {fmt_shape(other)} but '{slug}' has {fmt_shape(shape)}; pre-training needs the same input shape",
                        path="pretrain.dataset",
                    )
                )

    # Only a config valid so far has a model to count.
    if limits.params is not None and shapes_ok and not problems:
        n = count_parameters(config, shape, n_out, inputs=manifest.get("inputs"))
        seeds = variant_count(config) if variants_kind(config) == "ensemble" else 1
        if n > limits.params:
            problems.append(
                Problem(f"has {n:,} parameters, more than the budget of {limits.params:,}", path="model")
            )
        elif n * seeds > limits.params:
            # An ensemble predicts with all its seeds: the model the budget weighs is all of them.
            problems.append(
                Problem(
                    f"{seeds} seeds of a {n:,}-parameter model are {n * seeds:,} parameters, more than "
                    f"the budget of {limits.params:,}",
                    path="train.ensemble.seeds",
                )
            )
    return problems


def variant_budget_problems(config: ModelConfig, limits: Budget) -> list[Problem]:
    """A sweep's or an ensemble's size and epochs against the competition's budget: its
    variants count together (the intake, and the trainer again before it starts)."""
    kind = variants_kind(config)
    path = "sweep" if kind == "sweep" else "train.ensemble.seeds"
    n = variant_count(config)
    out = []
    if limits.variants is not None and n > limits.variants:
        if limits.variants == 1:
            said = "this competition trains one model per entry: no sweeps or ensembles"
        else:
            said = f"{n} variants; this competition allows at most {limits.variants} per entry"
        out.append(Problem(said, path=path))
    if limits.epochs is not None:
        epochs = variant_epochs(config)
        if sum(epochs) > limits.epochs:
            shown = f"{n} × {epochs[0]}" if len(set(epochs)) == 1 else " + ".join(map(str, epochs))
            out.append(
                Problem(
                    f"the {n} variants train {sum(epochs)} epochs in all ({shown}); the competition's "
                    f"budget is {limits.epochs} epochs per entry, all variants together",
                    path=path,
                )
            )
        if config.pretrain is not None and config.pretrain.epochs * n > limits.epochs:
            out.append(
                Problem(
                    f"each of the {n} variants pre-trains {config.pretrain.epochs} epochs, "
                    f"{config.pretrain.epochs * n} in all; the competition's budget is {limits.epochs} "
                    "epochs per entry, all variants together",
                    path="pretrain.epochs",
                )
            )
    return out


def _loss_problems(config: ModelConfig, manifest: Mapping[str, Any], slug: str) -> list[Problem]:
    loss = config.train.loss
    if loss is None:
        return []
    task = "regression" if manifest.get("task_type") == "regression" else "classification"
    # Each loss says which task it is for (its registry entry's `task`).
    fitting = [name for name, t in techniques.family("loss").items() if t.extra["task"] == task]
    if loss.name not in fitting:
        return [
            Problem(
                f"{loss.name} is not a {task} loss; dataset '{slug}' is {task}: use {' or '.join(fitting)}",
                path="train.loss.name",
            )
        ]
    weights = getattr(loss, "class_weights", None)
    classes = list(manifest.get("classes") or ())
    if isinstance(weights, list) and len(weights) != len(classes):
        shown = ", ".join(str(c) for c in classes[:20]) + (", ..." if len(classes) > 20 else "")
        return [
            Problem(
                f"has {len(weights)} weights; dataset '{slug}' has {len(classes)} classes ({shown}), "
                "one weight each in that order",
                path="train.loss.class_weights",
            )
        ]
    return []


# ---------------------------------------------------------------- warnings

# Below this many rows per batch BatchNorm's statistics are too noisy to train on: a batch of 2
# trains the digits CNN to chance.
BATCHNORM_MIN_BATCH = 8


def config_warnings(config: ModelConfig) -> list[Problem]:
    """What a valid config is allowed to do but probably should not: the entry is accepted,
    and these are shown with it (the intake's answer, the Submit page)."""
    out: list[Problem] = []
    batchnorm = next(
        (p for p, _, item in iter_layers(config.model.layers) if item.technique == "batchnorm"), None
    )
    if batchnorm is not None:
        sizes = [("train.batch_size", config.train.batch_size)]
        if config.pretrain is not None and config.pretrain.batch_size is not None:
            sizes.append(("pretrain.batch_size", config.pretrain.batch_size))
        for path, size in sizes:
            if size < BATCHNORM_MIN_BATCH:
                out.append(
                    Problem(
                        f"{size} rows per batch is too few for {batchnorm}: it normalises over the batch, and "
                        f"below {BATCHNORM_MIN_BATCH} rows its statistics are mostly noise (a batch of 2 can "
                        "train to chance); use a larger batch_size, or layernorm",
                        path=path,
                    )
                )
    if config.train.precision == "bf16":
        out.append(
            Problem(
                "bf16 applies on a GPU worker only; a CPU worker trains in fp32 (the entry says which it used)",
                path="train.precision",
            )
        )
    return out


def _augment_problems(
    augment: AugmentSpec | None, manifest: Mapping[str, Any], shape: Shape
) -> list[Problem]:
    """What of the augmentation this dataset's input cannot take."""
    if augment is None:
        return []
    slug = str(manifest.get("slug", "the dataset"))
    if len(shape) != 3:
        return [
            Problem(
                f"augments images (C×H×W input); dataset '{slug}' has {kind_of(shape)} input {fmt_shape(shape)}",
                path="train.augment",
            )
        ]
    out = []
    channels, height, width = shape
    if augment.crop is not None and augment.crop.padding >= min(height, width):
        out.append(
            Problem(
                f"must be less than the image's height and width ({height}×{width})",
                path="train.augment.crop.padding",
            )
        )
    jitter = augment.color_jitter
    if jitter is not None and channels != 3:
        for name in ("saturation", "hue"):
            if getattr(jitter, name) > 0:
                out.append(
                    Problem(
                        f"needs RGB images; dataset '{slug}' has {channels} channel(s): set it to 0",
                        path=f"train.augment.color_jitter.{name}",
                    )
                )
    if augment.mix is not None and manifest.get("task_type") == "regression":
        out.append(Problem(f"mixes class labels; dataset '{slug}' is a regression", path="train.augment.mix"))
    return out


# ---------------------------------------------------------------- published schema


def _drop_refs(node: Any, names: set[str]) -> Any:
    if isinstance(node, dict):
        return {k: _drop_refs(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [
            _drop_refs(v, names)
            for v in node
            if not (isinstance(v, dict) and v.get("$ref", "").rsplit("/", 1)[-1] in names)
        ]
    return node


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a model config (a fresh copy; computed once per process)."""
    return copy.deepcopy(_json_schema())


@functools.cache
def _json_schema() -> dict[str, Any]:
    schema = ModelConfig.model_json_schema()
    unknown = {name for name in schema.get("$defs", {}) if name.startswith("Unknown")}
    for name in unknown:
        del schema["$defs"][name]
    # The catch-all members exist to word 'unknown ...' errors; they accept nothing valid.
    schema = _drop_refs(schema, unknown)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Podium model config"
    return schema


def _parameters(model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        return {}
    props = model.model_json_schema().get("properties", {})
    out = {}
    for name, field in model.model_fields.items():
        if name == "name":
            continue
        info = {k: v for k, v in props.get(name, {}).items() if k not in ("title",)}
        info["required"] = field.is_required()
        if not field.is_required():
            info["default"] = field.get_default(call_default_factory=True)
        out[name] = info
    return out


def techniques_catalog() -> list[dict[str, Any]]:
    """Every technique with its family, a one-line why, and its parameters
    (JSON Schema of each, default, required). A fresh copy; computed once per process."""
    return copy.deepcopy(_catalog())


@functools.cache
def _catalog() -> list[dict[str, Any]]:
    items = []
    for (fam, name), t in techniques.REGISTRY.items():
        params = _parameters(t.params)
        if name == "activation":
            params = {"name": {"enum": list(_ACTIVATIONS), "required": True}}
        elif t.extra.get("container"):
            params = {"layers": {"type": "array", "description": "the block's layers", "required": True}}
        items.append({"family": fam, "name": name, "why": t.why, "parameters": params})
    return items


__all__ = [
    "MAX_VARIANTS",
    "SWEEPABLE",
    "ConfigError",
    "EnsembleSpec",
    "FinetuneSpec",
    "LayerItem",
    "ModelConfig",
    "ModelSpec",
    "PretrainSpec",
    "SweepSpec",
    "TrainSpec",
    "Variant",
    "config_warnings",
    "count_parameters",
    "infer_shapes",
    "iter_layers",
    "json_schema",
    "load_config",
    "n_outputs_for",
    "output_shape",
    "parse_config",
    "techniques_catalog",
    "validate_for_dataset",
    "variant_budget_problems",
    "variant_count",
    "variant_epochs",
    "variants_kind",
    "expand_variants",
]

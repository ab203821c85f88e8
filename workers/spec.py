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
import json
from collections.abc import Iterable, Mapping
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
from common.protocol import Budget
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


class TrainSpec(_Strict):
    epochs: Int(1, 1000) = 10
    batch_size: Int(1, 4096) = 64
    optimizer: Optimizer = Field(default_factory=lambda: techniques.get("optimizer", "adam").params())
    scheduler: Scheduler = Field(default_factory=lambda: techniques.get("scheduler", "constant").params())
    validation_fraction: Float(ge=0.0, le=0.5) = 0.1
    early_stopping: EarlyStopping | None = None
    precision: Literal["fp32", "bf16"] = "fp32"
    loss: Loss | None = None  # None: cross_entropy for classification, mse for regression


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


class ModelConfig(_Strict):
    version: Literal[1]
    seed: Int(0, 2**31 - 1) = 0
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    pretrain: PretrainSpec | None = None
    finetune: FinetuneSpec | None = None


# ---------------------------------------------------------------- errors -> problems

# Every parameter name anywhere in the schema: the vocabulary for "did you mean" hints.
_FIELD_NAMES: set[str] = {
    name
    for model in [t.params for t in techniques.REGISTRY.values() if t.params is not None]
    + [ModelConfig, ModelSpec, TrainSpec, PretrainSpec, FinetuneSpec, EarlyStopping]
    for name in model.model_fields
}


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

    limits = budget or Budget()
    if limits.epochs is not None:
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
        if n > limits.params:
            problems.append(
                Problem(f"has {n:,} parameters, more than the budget of {limits.params:,}", path="model")
            )
    return problems


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
    "ConfigError",
    "FinetuneSpec",
    "LayerItem",
    "ModelConfig",
    "ModelSpec",
    "PretrainSpec",
    "TrainSpec",
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
]

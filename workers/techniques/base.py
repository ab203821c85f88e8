"""What every technique shares: the parameter base class, bounded number types,
shapes, and the registry entry. Nothing here imports torch: the web tier validates
configs with these models alone, and builders import torch only when called."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

Shape = tuple[int, ...]
KINDS = {1: "tabular", 2: "sequence", 3: "image"}


def kind_of(shape: Shape) -> str:
    return KINDS.get(len(shape), f"{len(shape)}-d")


def fmt_shape(shape: Shape) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def Int(ge: int, le: int, **kw: Any) -> Any:
    # Strict: YAML `true` or "3" is a mistake for a size, not a number to coerce.
    return Annotated[int, Strict(), Field(ge=ge, le=le, **kw)]


def Float(ge: float | None = None, le: float | None = None, *, gt: float | None = None, **kw: Any) -> Any:
    # Not strict: PyYAML reads `1e-3` as a string (YAML 1.1 wants `1.0e-3`), which users write all the time.
    return Annotated[float, Field(ge=ge, le=le, gt=gt, allow_inf_nan=False, **kw)]


class Params(BaseModel):
    """Parameters of one technique. `shorthand` names the field a bare scalar fills
    (`dropout: 0.2` means `dropout: {p: 0.2}`); an empty value means all defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if cls.shorthand and not isinstance(data, dict | BaseModel):
            return {cls.shorthand: data}
        return data

    def problems(self) -> list[tuple[str, str]]:
        """Checks between fields: (sub-path, message) pairs, empty when fine."""
        return []

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        # The published schema accepts what the validator accepts: the shorthand
        # scalar, and null (all defaults) where no field is required.
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        options = [schema]
        if cls.shorthand:
            field = dict(resolved.get("properties", {}).get(cls.shorthand, {}))
            for key in ("title", "default"):
                field.pop(key, None)
            options.append(field)
        if not resolved.get("required") and cls.shorthand != "name":
            options.append({"type": "null"})
        return schema if len(options) == 1 else {"anyOf": options}


class ShapeError(Exception):
    """A layer cannot take the shape it is given; `subpath` names the parameter to blame."""

    def __init__(self, message: str, subpath: str = ""):
        super().__init__(message)
        self.message = message
        self.subpath = subpath


@dataclass
class ShapeContext:
    n_outputs: int
    dataset: str = "the dataset"
    # True while the layer being checked sees the dataset's own input (for clearer messages).
    at_input: bool = False
    # Set by the caller so that container layers (residual) can recurse.
    infer_layers: Callable[..., Shape] | None = None
    weigh_layers: Callable[..., tuple[list[Weights], Shape]] | None = None
    # The manifest's `inputs`: token ids (text) or categorical columns; None for plain numbers.
    inputs: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Weights:
    """The parameters of one torch module a layer builds, described without torch, so that
    the web tier counts a model without building it (`numel`). `lora` names the LoRA target
    that wraps the module (an nn.Linear is `linear`, an ungrouped nn.Conv2d `conv2d`); its
    adapter adds rank x (fan_in + fan_out) parameters."""

    numel: int
    fan_in: int = 0
    fan_out: int = 0
    lora: str | None = None


def dense(n_in: int, n_out: int, bias: bool = True) -> Weights:
    """An nn.Linear(n_in, n_out)."""
    return Weights(n_in * n_out + (n_out if bias else 0), n_in, n_out, "linear")


def conv(n_in: int, n_out: int, kernel: tuple[int, ...], *, bias: bool = True, groups: int = 1) -> Weights:
    """An nn.Conv1d (one kernel size) or nn.Conv2d (two) from n_in to n_out channels."""
    fan_in = n_in // groups * math.prod(kernel)
    lora = "conv2d" if len(kernel) == 2 and groups == 1 else None
    return Weights(n_out * fan_in + (n_out if bias else 0), fan_in, n_out, lora)


def norm(channels: int) -> Weights:
    """An affine BatchNorm or LayerNorm: a scale and a shift per channel."""
    return Weights(2 * channels)


def no_weights(p: Any, shape: Shape, ctx: Any) -> list[Weights]:
    return []


@dataclass
class BuildContext:
    n_outputs: int
    build_layers: Callable[..., Any] | None = None
    inputs: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Technique:
    """One registry entry. Layers give `infer` (shape in -> shape out, pure Python,
    raising ShapeError), `build` (params, input shape, context -> torch module) and
    `weights` (params, input shape, context -> the Weights of the module `build` makes,
    pure Python: the parameter count)."""

    name: str
    family: str  # activation | init | layer | optimizer | scheduler | adapter
    why: str
    params: type[Params] | None
    build: Callable[..., Any] | None = None
    infer: Callable[..., Shape] | None = None
    weights: Callable[..., list[Weights]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def need_kind(shape: Shape, allowed: tuple[str, ...], name: str, ctx: ShapeContext) -> str:
    kind = kind_of(shape)
    if kind not in allowed:
        wanted = " or ".join(allowed)
        if ctx.at_input:
            raise ShapeError(f"needs {wanted} input, dataset '{ctx.dataset}' is {kind}")
        raise ShapeError(f"needs {wanted} input, the previous layer gives {kind} {fmt_shape(shape)}")
    return kind


class NamedParams(Params):
    """Parameters of a technique chosen by `name` (activations, initialisers,
    optimisers, schedulers); a bare string is the name with default parameters."""

    shorthand: ClassVar[str | None] = "name"


TAG = "§"  # prefix of union tags; spec.py drops these from error paths


class _UnknownNamed(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"name": data}


def named_union(family: str, members: dict[str, type[NamedParams]]) -> Any:
    """A union dispatched on `name`, so that an error names the chosen member's
    field instead of listing why every member failed."""
    from pydantic import AfterValidator, Discriminator, Tag, create_model
    from pydantic_core import PydanticCustomError

    known = ", ".join(members)

    def reject(value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "missing_name", "is required; expected one of: {known}", {"known": known}
            )
        raise PydanticCustomError(
            "unknown_name",
            "unknown {family} '{value}'; expected one of: {known}",
            {"family": family, "value": str(value), "known": known},
        )

    unknown = create_model(
        "Unknown" + family.title().replace(" ", ""),
        __base__=_UnknownNamed,
        name=(Annotated[Any, AfterValidator(reject)], ...),
    )

    def tag(value: Any) -> str:
        if isinstance(value, BaseModel):
            name = getattr(value, "name", None)
        elif isinstance(value, dict):
            name = value.get("name")
        else:
            name = value
        return TAG + name if isinstance(name, str) and name in members else TAG + "?"

    choices = [Annotated[m, Tag(TAG + n)] for n, m in members.items()]
    choices.append(Annotated[unknown, Tag(TAG + "?")])
    return Annotated[Union[tuple(choices)], Discriminator(tag)]  # noqa: UP007


class Stop(Exception):
    """An inner layer already reported its problem; stop inferring without another."""

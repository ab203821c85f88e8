"""Loss functions. Unset (`train.loss` left out), a classification run uses
cross_entropy and a regression run mse; a loss of the other task is a validation
error. Regression targets are z-scored before training, so huber's `delta` is in
standard deviations of the target."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from .base import TAG, Float, NamedParams, Technique

MAX_CLASS_WEIGHTS = 1000  # as many classes as a weights list may name


def _one_weights_error(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        if isinstance(value, list):
            raise  # an item's error keeps its index in the path
        raise PydanticCustomError(
            "class_weights", "must be balanced, or a list of one positive weight per class"
        ) from exc


def _weights_kind(value: Any) -> str:
    return TAG + ("list" if isinstance(value, list) else "balanced")


# Tagged, so that a list's bad item is named by its index alone (the tags leave the path).
ClassWeights = Annotated[
    Union[  # noqa: UP007
        Annotated[Literal["balanced"], Tag(TAG + "balanced")],
        Annotated[
            Annotated[list[Float(gt=0.0, le=1000.0)], Field(min_length=2, max_length=MAX_CLASS_WEIGHTS)],
            Tag(TAG + "list"),
        ],
    ],
    Discriminator(_weights_kind),
    WrapValidator(_one_weights_error),
]


class CrossEntropy(NamedParams):
    name: Literal["cross_entropy"] = "cross_entropy"
    # Spreads this much probability over the other classes in the targets (Szegedy et al., 2016).
    label_smoothing: Float(ge=0.0, le=0.5) = 0.0
    # balanced: n / (K * count of the class) over the training rows; a list: the manifest's class order.
    class_weights: ClassWeights | None = None


class MSE(NamedParams):
    name: Literal["mse"] = "mse"


class Huber(NamedParams):
    name: Literal["huber"] = "huber"
    delta: Float(gt=0.0, le=100.0) = 1.0


class MAE(NamedParams):
    name: Literal["mae"] = "mae"


def default_loss(classification: bool) -> NamedParams:
    return CrossEntropy() if classification else MSE()


def balanced_weights(counts):
    """n / (K x count) per class (scikit-learn's `balanced`); an absent class weighs 0."""
    import torch

    counts = counts.to(torch.float32)
    present = counts > 0
    k = int(present.sum())
    weights = torch.zeros_like(counts)
    weights[present] = counts.sum() / (k * counts[present])
    return weights


def build_loss(p: NamedParams | None, *, classification: bool, y_train, n_classes: int | None):
    """The criterion (outputs, targets) -> mean loss of a run; `y_train` (class indices on
    the device) sizes the balanced class weights."""
    import torch
    import torch.nn.functional as F

    p = p if p is not None else default_loss(classification)
    if p.name == "cross_entropy":
        weight = None
        if p.class_weights == "balanced":
            weight = balanced_weights(torch.bincount(y_train, minlength=n_classes))
        elif p.class_weights is not None:
            weight = torch.tensor(p.class_weights, dtype=torch.float32, device=y_train.device)
        smoothing = p.label_smoothing

        def cross_entropy(out, y):
            return F.cross_entropy(out, y, weight=weight, label_smoothing=smoothing)

        return cross_entropy
    if p.name == "mse":
        return lambda out, y: F.mse_loss(out.reshape(-1), y)
    if p.name == "huber":
        delta = p.delta
        return lambda out, y: F.huber_loss(out.reshape(-1), y, delta=delta)
    if p.name == "mae":
        return lambda out, y: F.l1_loss(out.reshape(-1), y)
    raise ValueError(f"unknown loss {p.name!r}")


def build_stacked_loss(p: NamedParams | None, *, classification: bool):
    """What `build_loss` gives each member of a pack, for all of them in one call:
    (outputs [members, rows, ...], targets [members, rows]) -> each member's mean loss
    [members]; None for class weights (a weighted mean whose weights may differ per member)."""
    import torch.nn.functional as F

    p = p if p is not None else default_loss(classification)
    if p.name == "cross_entropy":
        if p.class_weights is not None:
            return None
        smoothing = p.label_smoothing

        def cross_entropy(out, y):
            flat = F.cross_entropy(
                out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="none", label_smoothing=smoothing
            )
            return flat.view(y.shape).mean(1)

        return cross_entropy
    elementwise = {"mse": F.mse_loss, "mae": F.l1_loss}.get(p.name)
    if elementwise is not None:
        return lambda out, y: elementwise(out.reshape(y.shape), y, reduction="none").mean(1)
    if p.name == "huber":
        delta = p.delta
        return lambda out, y: F.huber_loss(out.reshape(y.shape), y, reduction="none", delta=delta).mean(1)
    raise ValueError(f"unknown loss {p.name!r}")


TECHNIQUES = [
    Technique(
        "cross_entropy",
        "loss",
        "Classification loss; label_smoothing keeps the net from over-confident logits, class_weights counter class imbalance.",
        CrossEntropy,
        extra={"task": "classification"},
    ),
    Technique(
        "mse",
        "loss",
        "Mean squared error: regression's default, pulls hardest on the largest errors.",
        MSE,
        extra={"task": "regression"},
    ),
    Technique(
        "huber",
        "loss",
        "Squared below delta, linear above (Huber, 1964): regression that outliers cannot dominate.",
        Huber,
        extra={"task": "regression"},
    ),
    Technique(
        "mae",
        "loss",
        "Mean absolute error: fits the median, the most robust to outliers.",
        MAE,
        extra={"task": "regression"},
    ),
]

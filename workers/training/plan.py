"""A model config resolved, once, into what each training phase does.

`plan_for(config)` reads the validated `workers.spec.ModelConfig` and fills in every
default and inheritance in one place: pre-training takes train's batch size,
optimiser and scheduler unless it sets its own, and train's early stopping and
validation split. Nothing after the plan looks at the config's settings again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workers.spec import AugmentSpec, FinetuneSpec, ModelConfig
from workers.techniques.base import NamedParams
from workers.techniques.optimizers import OptimizerParams

Phase = Literal["pretrain", "train"]


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when the monitored value (the validation loss, or the competition's metric on the
    validation rows) has not improved by more than `min_delta` for `patience` epochs."""

    patience: int
    min_delta: float
    monitor: Literal["val_loss", "metric"] = "val_loss"


@dataclass(frozen=True)
class PhasePlan:
    phase: Phase
    epochs: int
    batch_size: int
    optimizer: OptimizerParams  # name and settings, as workers.build.build_optimizer takes them
    scheduler: NamedParams  # name and settings, as workers.build.build_scheduler takes them
    clip: float | None  # the largest global L2 norm of the gradients; None: no clipping
    early_stopping: EarlyStopping | None
    validation_fraction: float
    split_seed: int  # the validation split (the same rows for both phases of a dataset)
    shuffle_seed: int  # the order of the batches
    loss: NamedParams | None = (
        None  # as workers.techniques.losses.build_loss takes it; None: the task's default
    )
    augment: AugmentSpec | None = None  # image augmentation of training batches (both phases)


@dataclass(frozen=True)
class TrainingPlan:
    seed: int  # the model's initialisation
    precision: Literal["fp32", "bf16"]  # as asked; bf16 only applies on CUDA (precision_on)
    train: PhasePlan
    pretrain: PhasePlan | None
    pretrain_dataset: str | None
    finetune: FinetuneSpec | None

    def precision_on(self, device_type: str) -> str:
        return "bf16" if self.precision == "bf16" and device_type == "cuda" else "fp32"

    @property
    def phases(self) -> tuple[PhasePlan, ...]:
        return (self.train,) if self.pretrain is None else (self.pretrain, self.train)


def _pretrain_loss(loss: NamedParams | None) -> NamedParams | None:
    """Pre-training trains with train's loss, but a list of class weights names the target's
    classes, not the pre-training dataset's: there it balances them instead."""
    if loss is not None and isinstance(getattr(loss, "class_weights", None), list):
        return loss.model_copy(update={"class_weights": "balanced"})
    return loss


def plan_for(config: ModelConfig) -> TrainingPlan:
    train = config.train
    split_seed = config.seed if train.validation_seed is None else train.validation_seed
    stopping = train.early_stopping
    early = (
        None if stopping is None else EarlyStopping(stopping.patience, stopping.min_delta, stopping.monitor)
    )
    train_plan = PhasePlan(
        phase="train",
        epochs=train.epochs,
        batch_size=train.batch_size,
        optimizer=train.optimizer,
        scheduler=train.scheduler,
        clip=train.optimizer.grad_clip,
        early_stopping=early,
        validation_fraction=train.validation_fraction,
        split_seed=split_seed,
        # The training phase shuffles with another stream than pre-training's.
        shuffle_seed=config.seed + 1,
        loss=train.loss,
        augment=train.augment,
    )
    pretrain = config.pretrain
    pretrain_plan = None
    if pretrain is not None:
        optimizer = pretrain.optimizer if pretrain.optimizer is not None else train.optimizer
        pretrain_plan = PhasePlan(
            phase="pretrain",
            epochs=pretrain.epochs,
            batch_size=pretrain.batch_size if pretrain.batch_size is not None else train.batch_size,
            optimizer=optimizer,
            scheduler=pretrain.scheduler if pretrain.scheduler is not None else train.scheduler,
            clip=optimizer.grad_clip,
            early_stopping=early,
            validation_fraction=train.validation_fraction,
            split_seed=split_seed,
            shuffle_seed=config.seed,
            loss=_pretrain_loss(train.loss),
            augment=train.augment,
        )
    return TrainingPlan(
        seed=config.seed,
        precision=train.precision,
        train=train_plan,
        pretrain=pretrain_plan,
        pretrain_dataset=None if pretrain is None else pretrain.dataset,
        finetune=config.finetune,
    )

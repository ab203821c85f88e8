"""`train(config, data, ...)`: one run, from a parsed model config and in-memory arrays
to a `TrainResult` with the per-epoch history, why it stopped, and the test predictions.

The run resolves the config into a `TrainingPlan`, puts the data on the device once,
and trains its phases (pre-training on another dataset, then training) with one `Loop`
under one clock; the budget's epochs hold for each phase.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.protocol import Budget, EpochRecord
from datasets.metrics import get_metric
from workers.build import build_model
from workers.data import Standardizer, TrainData, load_dataset
from workers.lora import merge_lora, prepare_finetune
from workers.spec import FinetuneSpec, ModelConfig, count_parameters
from workers.training.augment import predict_with_flips
from workers.training.loop import Loop
from workers.training.outputs import save_weights
from workers.training.plan import TrainingPlan, plan_for
from workers.training.result import (
    BUDGET_EPOCHS,
    BUDGET_PARAMETERS,
    CANCELLED,
    COMPLETED,
    DIVERGED,
    EARLY_STOPPING,
    BudgetExceeded,
    Stop,
    TrainError,
    TrainResult,
)
from workers.training.stopping import CancelPoll, EpochCap, WallClock
from workers.training.tensors import DeviceTensors, to_device


@contextlib.contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels for the run, then the caller's settings back."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        # cuBLAS needs a fixed workspace to be deterministic; it reads this when it initialises.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # warn_only: an op without a deterministic kernel warns instead of failing a participant's run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench


def _metric_for(name: str | None, task_type: str):
    if name is None:
        name = "accuracy" if task_type == "classification" else "rmse"
    metric = get_metric(name)
    if metric.task_type != task_type:
        raise TrainError(f"metric {name!r} is for {metric.task_type}, the dataset is {task_type}")
    return metric


def _resolve_device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError("device 'cuda' was asked for, but this machine has no CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        raise TrainError(f"device {device!r} is not supported; use cpu or cuda")
    return dev


def _check_parameters(config: ModelConfig, data: TrainData, budget: Budget) -> int:
    n_params = int(count_parameters(config, data.input_shape, data.n_outputs, inputs=data.inputs))
    if budget.params is not None and n_params > budget.params:
        raise BudgetExceeded(
            BUDGET_PARAMETERS,
            f"the model has {n_params:,} parameters; the budget allows {budget.params:,}",
        )
    return n_params


def _prepare_finetune(
    model: nn.Module, plan: TrainingPlan, source: TrainData, target: TrainData
) -> nn.Module:
    """After pre-training, `workers.lora.prepare_finetune` (the one implementation of
    the spec's modes and freezing rules) with the head decided by the data."""
    # A head trained on other labels means nothing for these: start it afresh,
    # also when only the label names differ (digits 0-4 -> 5-9, same count).
    new_head = source.classes != target.classes or source.n_outputs != target.n_outputs
    # Pre-training without a finetune section: the whole network trains on the target (mode full).
    finetune = plan.finetune or FinetuneSpec()
    return prepare_finetune(model, finetune, target.n_outputs, new_head=new_head)


def _pretrain_source(
    slug: str, pretrain_data: TrainData | Mapping[str, TrainData] | None, target: TrainData
) -> TrainData:
    if isinstance(pretrain_data, Mapping):
        pretrain_data = pretrain_data.get(slug)
    if pretrain_data is None:
        pretrain_data = load_dataset(slug)
    if pretrain_data.input_shape != target.input_shape:
        raise TrainError(
            f"pretrain.dataset {pretrain_data.slug!r} has input shape {list(pretrain_data.input_shape)}, "
            f"the target has {list(target.input_shape)}"
        )
    return pretrain_data


def _predict(loop: Loop, model: nn.Module, tensors: DeviceTensors, result: TrainResult, tta: str) -> None:
    if tta == "flip":
        out = predict_with_flips(lambda X: loop.forward_all(model, X), tensors.X_test, tensors.classification)
    else:
        out = loop.forward_all(model, tensors.X_test)
    if tensors.classification:
        proba = torch.softmax(out, dim=1).double().cpu().numpy()
        result.probabilities = proba
        result.predictions = np.asarray(result.classes, dtype=object)[proba.argmax(axis=1)]
    else:
        result.predictions = out.reshape(-1).double().cpu().numpy() * tensors.y_std + tensors.y_mean


def train(
    config: ModelConfig,
    data: TrainData,
    *,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[EpochRecord], None] | None = None,
    budget: Budget | None = None,
    out_dir: str | Path | None = None,
    should_stop: Callable[[], bool] | None = None,
    metric: str | None = None,
    pretrain_data: TrainData | Mapping[str, TrainData] | None = None,
) -> TrainResult:
    """Train `config` (a workers.spec ModelConfig) on `data` and predict its test set.

    `metric` is the competition's metric (defaults to the manifest's, else
    accuracy / rmse). `budget` caps epochs, parameters (checked before any
    weight is allocated) and wall-clock seconds (checked every batch).
    `should_stop()` is polled every couple of seconds; when it returns True
    the run ends with stopped_reason "cancelled" and no predictions.
    When the config pre-trains, `pretrain_data` is that dataset, or a mapping
    slug -> dataset (built from the catalog when not given). With `out_dir`,
    the weights are written to `out_dir/weights.safetensors`.
    """
    dev = _resolve_device(device)
    budget = budget or Budget()
    metric_obj = _metric_for(metric or data.manifest.get("metric"), data.task_type)
    plan = plan_for(config)
    precision = plan.precision_on(dev.type)
    if plan.pretrain is None and plan.finetune is not None and plan.finetune.from_submission is not None:
        # Training from scratch instead would ignore the freezing and adapters the config asks for.
        raise TrainError(
            "finetune.from_submission: starting from an earlier submission's weights is not supported "
            "by this worker yet; use pretrain instead"
        )

    start = time.perf_counter()
    loop = Loop(
        device=dev,
        metric=metric_obj,
        precision=precision,
        clock=WallClock(budget.seconds, start),
        cancel=CancelPoll(should_stop, start),
        epoch_cap=EpochCap(budget.epochs),
        on_epoch=on_epoch,
    )
    with deterministic(dev):
        standardizer = None
        stop: Stop | None = None
        best_epoch = None
        n_trainable = 0
        no_model = False
        if plan.pretrain is not None:
            source = _pretrain_source(plan.pretrain_dataset, pretrain_data, data)
            n_params = _check_parameters(config, source, budget)
            torch.manual_seed(plan.seed)
            model = build_model(config, source.input_shape, source.n_outputs, inputs=source.inputs).to(dev)
            pre_tensors, standardizer = to_device(
                source,
                seed=plan.pretrain.split_seed,
                val_fraction=plan.pretrain.validation_fraction,
                device=dev,
            )
            stop = loop.fit(model, pre_tensors, plan.pretrain).stop
            del pre_tensors
            # Early stopping, the per-phase epoch cap, or a divergence after early stopping kept
            # a good epoch end pre-training, not the run.
            if stop is None or stop.reason in (EARLY_STOPPING, BUDGET_EPOCHS, DIVERGED):
                stop = None
                model = _prepare_finetune(model, plan, source, data).to(dev)
            else:
                stop = Stop(
                    stop.reason,
                    stop.message + " (during pre-training, so there is no model for this dataset)",
                )
                no_model = True
        else:
            n_params = _check_parameters(config, data, budget)
            torch.manual_seed(plan.seed)
            model = build_model(config, data.input_shape, data.n_outputs, inputs=data.inputs).to(dev)

        # Pre-trained inputs keep the pre-training normalisation, as a backbone expects.
        tensors, standardizer = to_device(
            data,
            seed=plan.train.split_seed,
            val_fraction=plan.train.validation_fraction,
            device=dev,
            standardizer=standardizer,
        )
        if stop is None:
            outcome = loop.fit(model, tensors, plan.train)
            stop, best_epoch, n_trainable = outcome.stop, outcome.best_epoch, outcome.n_trainable

        return run_result(
            config=config,
            data=data,
            plan=plan,
            loop=loop,
            model=model,
            tensors=tensors,
            standardizer=standardizer,
            metric_name=metric_obj.name,
            stop=stop,
            best_epoch=best_epoch,
            n_params=n_params,
            n_trainable=n_trainable,
            precision=precision,
            out_dir=out_dir,
            start=start,
            no_model=no_model,
        )


def run_result(
    *,
    config: ModelConfig,
    data: TrainData,
    plan: TrainingPlan,
    loop: Loop,
    model: nn.Module,
    tensors: DeviceTensors,
    standardizer: Standardizer,
    metric_name: str,
    stop: Stop | None,
    best_epoch: int | None,
    n_params: int,
    n_trainable: int,
    precision: str,
    out_dir: str | Path | None,
    start: float,
    no_model: bool = False,
) -> TrainResult:
    """A run's `TrainResult` once its training ended (`stop` None: every epoch ran): the
    history, why it stopped, the notes, and, unless it was cancelled or has no model, the
    test predictions, the weights and the validation metric of the epoch it kept. The solo
    trainer and the packed one (`workers.training.packed`) both end here."""
    result = TrainResult(
        task_type=data.task_type,
        metric=metric_name,
        classes=data.classes,
        test_ids=data.test_ids,
        predictions=None,
        probabilities=None,
        history=loop.history,
        stopped_reason=stop.reason if stop else COMPLETED,
        stop_message=stop.message if stop else f"completed {loop.epochs_done} epochs",
        epochs_run=loop.epochs_done,
        best_epoch=best_epoch,
        n_parameters=n_params,
        n_trainable=n_trainable,
        device=str(loop.device),
        precision=precision,
        preprocessing={
            "standardize": standardizer.as_dict(),
            "target_mean": tensors.y_mean,
            "target_std": tensors.y_std,
        },
    )
    if plan.precision != precision:
        result.notes.append(
            f"precision {plan.precision} was asked for, but it applies on a CUDA GPU only: "
            f"this run on {loop.device.type} trained in {precision}"
        )
    if result.stopped_reason == DIVERGED:
        result.notes.append(
            f"training stopped early: the loss diverged, so the predictions come from epoch {best_epoch}"
        )
    if result.stopped_reason == CANCELLED or no_model:
        result.seconds = time.perf_counter() - start
        return result

    if plan.pretrain is not None or plan.finetune is not None:
        model = merge_lora(model)
    augment = plan.train.augment
    _predict(loop, model, tensors, result, augment.tta if augment is not None else "none")
    for rec in reversed(loop.history):
        if rec["val_metric"] is not None and (best_epoch is None or rec["epoch"] == best_epoch):
            result.val_metric = rec["val_metric"]
            break
    result.state_dict = {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}
    if out_dir is not None:
        result.weights_path = save_weights(result, config, Path(out_dir) / "weights.safetensors")
    result.seconds = time.perf_counter() - start
    return result

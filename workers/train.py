"""The training loop of the compute tier, and the local runner.

    python -m workers.train examples/digits_cnn.yaml --dataset digits [--device cpu|cuda] [--out DIR]

`train(config, data, ...)` takes a parsed model config and in-memory arrays,
trains on one device and returns a `TrainResult` with the per-epoch history,
why it stopped, and the test predictions. The data sits on the device as
tensors for the whole run: a batch is one index into them, never a Python loop
over samples, so the loop costs what the model costs.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workers.data import Standardizer, TrainData, load_dataset, stratified_split

# Why a run stopped (TrainResult.stopped_reason).
COMPLETED = "completed"
EARLY_STOPPING = "early_stopping"
BUDGET_EPOCHS = "budget_epochs"
BUDGET_SECONDS = "budget_seconds"
BUDGET_PARAMETERS = "budget_parameters"
CANCELLED = "cancelled"

# How often (seconds) the trainer asks `should_stop()` in the middle of an epoch:
# often enough to cancel promptly, rarely enough that a heartbeat over HTTP is cheap.
POLL_SECONDS = 2.0
EVAL_CHUNK = 4096


class TrainError(RuntimeError):
    """A run that cannot go on; the message is meant for the participant."""


class BudgetExceeded(TrainError):
    """The config asks for more than the competition's budget allows."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Budget:
    """The competition's equal budget. None means no limit."""

    __slots__ = ("max_epochs", "max_parameters", "max_seconds")

    def __init__(
        self,
        max_epochs: int | None = None,
        max_parameters: int | None = None,
        max_seconds: float | None = None,
        *,
        max_params: int | None = None,
    ):
        self.max_epochs = None if max_epochs is None else int(max_epochs)
        params = max_parameters if max_parameters is not None else max_params
        self.max_parameters = None if params is None else int(params)
        self.max_seconds = None if max_seconds is None else float(max_seconds)

    def __repr__(self) -> str:
        return f"Budget(max_epochs={self.max_epochs}, max_parameters={self.max_parameters}, max_seconds={self.max_seconds})"

    @classmethod
    def coerce(cls, budget: Budget | Mapping | Any | None) -> Budget:
        if budget is None:
            return cls()
        if isinstance(budget, Budget):
            return budget

        def get(*keys):
            for k in keys:
                v = budget.get(k) if isinstance(budget, Mapping) else getattr(budget, k, None)
                if v is not None:
                    return v
            return None

        return cls(
            max_epochs=get("max_epochs", "epochs"),
            max_parameters=get("max_parameters", "max_params", "parameters", "params"),
            max_seconds=get("max_seconds", "seconds"),
        )


@dataclass
class TrainResult:
    task_type: str
    metric: str
    classes: list[str] | None
    test_ids: np.ndarray
    # Class labels (strings) for classification, numbers for regression; None when cancelled.
    predictions: np.ndarray | None
    # (n_test, n_classes) softmax probabilities in manifest class order (classification only).
    probabilities: np.ndarray | None
    history: list[dict] = field(default_factory=list)
    stopped_reason: str = COMPLETED
    stop_message: str = ""
    epochs_run: int = 0
    best_epoch: int | None = None
    val_metric: dict | None = None
    seconds: float = 0.0
    n_parameters: int = 0
    # Parameters the last phase trained (fewer than n_parameters when fine-tuning freezes or adapts).
    n_trainable: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    preprocessing: dict = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    weights_path: Path | None = None

    def summary(self) -> dict:
        """JSON-ready summary (no arrays): what metrics.json holds."""
        return {
            "task_type": self.task_type,
            "metric": self.metric,
            "val_metric": self.val_metric,
            "stopped_reason": self.stopped_reason,
            "stop_message": self.stop_message,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 3),
            "n_parameters": self.n_parameters,
            "n_trainable": self.n_trainable,
            "device": self.device,
            "precision": self.precision,
            "history": self.history,
        }


# --------------------------------------------------------------------------- config access
# The schema is workers.spec's; these few readers keep the loop independent of
# where an optional setting lives, and give every default in one place.


def _get(obj, name: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        value = obj.get(name, default)
    else:
        value = getattr(obj, name, default)
    return default if value is None else value


def _train_cfg(config):
    return _get(config, "train")


def _precision(config, device: torch.device) -> str:
    wanted = str(_get(_train_cfg(config), "precision", "fp32"))
    return "bf16" if wanted == "bf16" and device.type == "cuda" else "fp32"


def _clip_norm(tcfg) -> float | None:
    opt = _get(tcfg, "optimizer")
    for holder in (opt, tcfg):
        for key in ("grad_clip", "clip_norm", "max_grad_norm", "gradient_clip"):
            value = _get(holder, key)
            if value:
                return float(value)
    return None


# --------------------------------------------------------------------------- data on the device


@dataclass
class _Tensors:
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    y_val_np: np.ndarray
    X_test: torch.Tensor
    n_classes: int | None
    y_mean: float = 0.0
    y_std: float = 1.0


def _to_device(
    data: TrainData,
    *,
    seed: int,
    val_fraction: float,
    device: torch.device,
    standardizer: Standardizer | None = None,
) -> tuple[_Tensors, Standardizer]:
    classification = data.task_type == "classification"
    y = data.target_indices()
    train_rows, val_rows = stratified_split(y, val_fraction, seed, stratify=classification)
    X_tr = data.X_train[train_rows]
    if standardizer is None:
        standardizer = Standardizer.fit(X_tr)

    def put(a, dtype):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype).to(device)

    y_mean, y_std = 0.0, 1.0
    y_tr, y_val = y[train_rows], y[val_rows]
    if classification:
        ydt = torch.int64
        y_tr_t, y_val_t = y_tr, y_val
    else:
        # Targets are z-scored so one learning rate suits every regression set; predictions are mapped back.
        ydt = torch.float32
        y_mean = float(y_tr.mean())
        y_std = float(y_tr.std()) or 1.0
        y_tr_t, y_val_t = (y_tr - y_mean) / y_std, (y_val - y_mean) / y_std
    tensors = _Tensors(
        X_train=put(standardizer.apply(X_tr), torch.float32),
        y_train=put(y_tr_t, ydt),
        X_val=put(standardizer.apply(data.X_train[val_rows]), torch.float32),
        y_val=put(y_val_t, ydt),
        y_val_np=y_val,
        X_test=put(standardizer.apply(data.X_test), torch.float32),
        n_classes=data.n_outputs if classification else None,
        y_mean=y_mean,
        y_std=y_std,
    )
    return tensors, standardizer


def _loss_fn(classification: bool) -> Callable:
    if classification:
        return F.cross_entropy

    def mse(out, y):
        return F.mse_loss(out.reshape(-1), y)

    return mse


# --------------------------------------------------------------------------- gradient norms


def _layer_of_param(model: nn.Module) -> dict[str, str]:
    """Parameter name -> the layer path of the config (`layers.3.conv2d`)."""
    from workers.build import layer_names

    return layer_names(model)


class GradNormTracker:
    """Per-layer gradient norms, averaged over an epoch's batches.

    Per batch: one fused norm of every gradient tensor, written straight into
    that batch's row of a (batches x tensors) buffer on the device: two kernel
    launches and no transfer. At the epoch's end the rows are summed by layer
    (a matrix product with a 0/1 layers x tensors matrix), square-rooted and
    averaged, and cross to the host once with the epoch's other numbers.
    """

    def __init__(self, model: nn.Module, params: list[nn.Parameter], device: torch.device, steps: int):
        by_param = _layer_of_param(model)
        ident = {id(p): n for n, p in model.named_parameters()}
        self.params = params
        self.layers: list[str] = []
        index: dict[str, int] = {}
        cols = []
        for p in params:
            layer = by_param.get(ident.get(id(p), ""), "?")
            if layer not in index:
                index[layer] = len(self.layers)
                self.layers.append(layer)
            cols.append(index[layer])
        m = torch.zeros(len(self.layers), len(params))
        m[torch.tensor(cols, dtype=torch.long), torch.arange(len(params))] = 1.0
        self.matrix_t = m.t().contiguous().to(device)
        self.rows = torch.zeros(max(steps, 1), len(params), device=device)
        self.batches = 0

    def step(self, clip: float | None) -> None:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            grads = [
                g if g is not None else torch.zeros_like(p) for g, p in zip(grads, self.params, strict=True)
            ]
        norms = self.rows[self.batches]
        torch.stack(torch._foreach_norm(grads), out=norms)
        if clip is not None:
            # Same rule as clip_grad_norm_, reusing the per-tensor norms already computed.
            total = torch.linalg.vector_norm(norms)
            coef = torch.clamp(clip / (total + 1e-6), max=1.0)
            torch._foreach_mul_(grads, coef)
        self.batches += 1

    def reset(self) -> None:
        self.batches = 0

    def epoch_means(self) -> torch.Tensor:
        used = self.rows[: max(self.batches, 1)]
        return torch.sqrt(used.square() @ self.matrix_t).mean(dim=0)


# --------------------------------------------------------------------------- the loop


class _Stop(Exception):
    def __init__(self, reason: str, message: str):
        self.reason = reason
        self.message = message


@contextlib.contextmanager
def _deterministic(device: torch.device):
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


class _Run:
    """State shared by the phases of one run (pre-training, then training)."""

    def __init__(self, *, device, budget, on_epoch, should_stop, metric, precision):
        self.device = device
        self.budget = budget
        self.on_epoch = on_epoch
        self.should_stop = should_stop
        self.metric = metric
        self.precision = precision
        self.start = time.perf_counter()
        self.deadline = self.start + budget.max_seconds if budget.max_seconds else math.inf
        self.next_poll = self.start + POLL_SECONDS
        self.epochs_done = 0
        self.history: list[dict] = []

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def check_clock(self, now: float, *, poll: bool = False) -> None:
        if now > self.deadline:
            raise _Stop(
                BUDGET_SECONDS,
                f"stopped after {now - self.start:.1f} s: the budget allows {self.budget.max_seconds:g} s of training",
            )
        if self.should_stop is not None and (poll or now >= self.next_poll):
            self.next_poll = now + POLL_SECONDS
            if self.should_stop():
                raise _Stop(CANCELLED, "cancelled while training")

    @torch.no_grad()
    def forward_all(self, model: nn.Module, X: torch.Tensor) -> torch.Tensor:
        model.eval()
        outs = []
        with self.autocast():
            for i in range(0, X.shape[0], EVAL_CHUNK):
                outs.append(model(X[i : i + EVAL_CHUNK]).float())
        return torch.cat(outs) if outs else torch.zeros((0,), device=self.device)

    def fit(self, model, tensors: _Tensors, tcfg, *, epochs: int, seed: int, phase: str) -> dict:
        """Train `model` for up to `epochs` epochs. Returns {"best_epoch", "stop"}."""
        from workers.build import build_optimizer, build_scheduler
        from workers.lora import frozen_norms_to_eval

        dev = self.device
        classification = tensors.n_classes is not None
        loss_fn = _loss_fn(classification)
        X, Y = tensors.X_train, tensors.y_train
        n = X.shape[0]
        bs = max(1, min(int(_get(tcfg, "batch_size", 64)), n))
        steps = n // bs
        # A last batch of one row would break BatchNorm; smaller remainders still train.
        if n - steps * bs >= 2 or steps == 0:
            steps += 1

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TrainError("nothing to train: every parameter is frozen")
        optimizer = build_optimizer(params, _get(tcfg, "optimizer"))
        scheduler = build_scheduler(optimizer, _get(tcfg, "scheduler"), steps, epochs)
        clip = _clip_norm(tcfg)
        tracker = GradNormTracker(model, params, dev, steps)

        es_cfg = _get(tcfg, "early_stopping")
        patience = int(_get(es_cfg, "patience", 0)) if es_cfg is not None else 0
        min_delta = float(_get(es_cfg, "min_delta", 0.0)) if es_cfg is not None else 0.0
        monitor = str(_get(es_cfg, "monitor", "val_loss")) if es_cfg is not None else "val_loss"
        have_val = tensors.X_val.shape[0] > 0
        best_value, best_epoch, best_state, bad_epochs = None, None, None, 0

        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        stop: tuple[str, str] | None = None
        phase_epochs = 0

        for _ in range(epochs):
            # The epoch budget holds for each phase (pre-training, training), as validation checks it.
            if self.budget.max_epochs is not None and phase_epochs >= self.budget.max_epochs:
                stop = (
                    BUDGET_EPOCHS,
                    f"stopped after {phase_epochs} {phase} epochs: the budget allows {self.budget.max_epochs}",
                )
                break
            t0 = time.perf_counter()
            model.train()
            frozen_norms_to_eval(model)
            tracker.reset()
            loss_sum = torch.zeros((), device=dev)
            perm = torch.randperm(n, generator=gen, device=dev)
            lr = optimizer.param_groups[0]["lr"]
            try:
                for s in range(steps):
                    idx = perm[s * bs : (s + 1) * bs]
                    xb = X.index_select(0, idx)
                    yb = Y.index_select(0, idx)
                    with self.autocast():
                        out = model(xb)
                    loss = loss_fn(out.float(), yb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    tracker.step(clip)
                    lr = optimizer.param_groups[0]["lr"]
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    loss_sum += loss.detach()
                    self.check_clock(time.perf_counter())
            except _Stop as s_:
                stop = (s_.reason, s_.message)
                if s_.reason == CANCELLED:
                    break
                # The interrupted epoch is still reported, marked partial, below.

            # Validation, then a single transfer of the epoch's numbers.
            parts = [(loss_sum / max(tracker.batches, 1)).reshape(1)]
            val_out = None
            if have_val:
                val_out = self.forward_all(model, tensors.X_val)
                parts.append(loss_fn(val_out, tensors.y_val).reshape(1))
            parts.append(tracker.epoch_means())
            numbers = torch.cat(parts).tolist()
            train_loss = numbers[0]
            val_loss = numbers[1] if have_val else None
            norms = numbers[2:] if have_val else numbers[1:]
            if not math.isfinite(train_loss):
                raise TrainError(
                    f"training diverged: the train loss is {train_loss} at epoch {self.epochs_done + 1} "
                    f"({phase}); try a lower learning rate or gradient clipping"
                )
            val_metric = None
            if val_out is not None:
                val_metric = {"name": self.metric.name, "value": self._metric_value(val_out, tensors)}
            self.epochs_done += 1
            phase_epochs += 1
            record = {
                "phase": phase,
                "epoch": self.epochs_done,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_metric": val_metric,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
                "grad_norms": dict(zip(tracker.layers, norms, strict=True)),
            }
            if stop is not None:
                record["partial"] = True
            self.history.append(record)
            if self.on_epoch is not None:
                self.on_epoch(record)
            if stop is not None:
                break

            if patience and have_val:
                value = val_loss if monitor == "val_loss" else val_metric["value"]
                higher = monitor != "val_loss" and self.metric.higher_is_better
                improved = best_value is None or (
                    value > best_value + min_delta if higher else value < best_value - min_delta
                )
                if improved:
                    best_value, best_epoch, bad_epochs = value, self.epochs_done, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                    if bad_epochs >= patience:
                        stop = (
                            EARLY_STOPPING,
                            f"early stopping at epoch {self.epochs_done}: {monitor} did not improve for "
                            f"{patience} epochs (best at epoch {best_epoch})",
                        )
                        break
            # Checked between epochs too, so a short epoch still notices a cancel or the deadline.
            try:
                self.check_clock(time.perf_counter(), poll=True)
            except _Stop as s_:
                stop = (s_.reason, s_.message)
                break

        # With early stopping the result is the best validation epoch's model,
        # whether the run stopped early or used up its epochs.
        if best_state is not None and (stop is None or stop[0] != CANCELLED):
            model.load_state_dict(best_state)
        return {"best_epoch": best_epoch, "stop": stop, "n_trainable": sum(p.numel() for p in params)}

    def _metric_value(self, out: torch.Tensor, tensors: _Tensors) -> float:
        if tensors.n_classes is not None:
            proba = torch.softmax(out, dim=1).double().cpu().numpy()
            pred = proba if self.metric.needs_proba else proba.argmax(axis=1)
            return float(self.metric(tensors.y_val_np, pred, tensors.n_classes))
        pred = out.reshape(-1).double().cpu().numpy() * tensors.y_std + tensors.y_mean
        return float(self.metric(tensors.y_val_np, pred, None))


def _metric_for(name: str | None, task_type: str):
    from datasets.metrics import get_metric

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


def _check_parameters(config, input_shape, n_outputs, budget: Budget) -> int:
    from workers.spec import count_parameters

    n_params = int(count_parameters(config, input_shape, n_outputs))
    if budget.max_parameters is not None and n_params > budget.max_parameters:
        raise BudgetExceeded(
            BUDGET_PARAMETERS,
            f"the model has {n_params:,} parameters; the budget allows {budget.max_parameters:,}",
        )
    return n_params


def train(
    config,
    data: TrainData,
    *,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[dict], None] | None = None,
    budget: Budget | Mapping | None = None,
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
    When the config pre-trains, `pretrain_data` is that dataset (built from
    the catalog when not given). With `out_dir`, the weights are written to
    `out_dir/weights.safetensors`.
    """
    from workers.build import build_model

    dev = _resolve_device(device)
    budget = Budget.coerce(budget)
    metric_obj = _metric_for(metric or data.manifest.get("metric"), data.task_type)
    precision = _precision(config, dev)
    seed = int(_get(config, "seed", 0))
    tcfg = _train_cfg(config)
    val_fraction = float(_get(tcfg, "validation_fraction", 0.1))
    pre_cfg = _get(config, "pretrain")
    if pre_cfg is None and _get(_get(config, "finetune"), "from_submission") is not None:
        # Training from scratch instead would ignore the freezing and adapters the config asks for.
        raise TrainError(
            "finetune.from_submission: starting from an earlier submission's weights is not supported "
            "by this worker yet; use pretrain instead"
        )

    run = _Run(
        device=dev,
        budget=budget,
        on_epoch=on_epoch,
        should_stop=should_stop,
        metric=metric_obj,
        precision=precision,
    )
    with _deterministic(dev):
        standardizer = None
        model = None
        n_params = 0
        stop = None
        best_epoch = None
        n_trainable = 0
        no_model = False
        if pre_cfg is not None:
            slug = str(_get(pre_cfg, "dataset"))
            if isinstance(pretrain_data, Mapping):
                pretrain_data = pretrain_data.get(slug)
            if pretrain_data is None:
                pretrain_data = load_dataset(slug)
            if pretrain_data.input_shape != data.input_shape:
                raise TrainError(
                    f"pretrain.dataset {pretrain_data.slug!r} has input shape {list(pretrain_data.input_shape)}, "
                    f"the target has {list(data.input_shape)}"
                )
            n_params = _check_parameters(config, pretrain_data.input_shape, pretrain_data.n_outputs, budget)
            torch.manual_seed(seed)
            model = build_model(config, pretrain_data.input_shape, pretrain_data.n_outputs).to(dev)
            pre_tensors, standardizer = _to_device(
                pretrain_data, seed=seed, val_fraction=val_fraction, device=dev
            )
            pre_epochs = int(_get(pre_cfg, "epochs", _get(tcfg, "epochs", 1)))
            out = run.fit(
                model,
                pre_tensors,
                _pretrain_cfg(pre_cfg, tcfg),
                epochs=pre_epochs,
                seed=seed,
                phase="pretrain",
            )
            del pre_tensors
            stop = out["stop"]
            # Early stopping or the per-phase epoch cap end pre-training, not the run.
            if stop is None or stop[0] in (EARLY_STOPPING, BUDGET_EPOCHS):
                stop = None
                model = _prepare_finetune(model, config, pretrain_data, data).to(dev)
            else:
                stop = (stop[0], stop[1] + " (during pre-training, so there is no model for this dataset)")
                no_model = True
        else:
            n_params = _check_parameters(config, data.input_shape, data.n_outputs, budget)
            torch.manual_seed(seed)
            model = build_model(config, data.input_shape, data.n_outputs).to(dev)

        # Pre-trained inputs keep the pre-training normalisation, as a backbone expects.
        tensors, standardizer = _to_device(
            data, seed=seed, val_fraction=val_fraction, device=dev, standardizer=standardizer
        )
        if stop is None:
            out = run.fit(
                model, tensors, tcfg, epochs=int(_get(tcfg, "epochs", 1)), seed=seed + 1, phase="train"
            )
            stop, best_epoch = out["stop"], out["best_epoch"]
            n_trainable = out["n_trainable"]

        result = TrainResult(
            task_type=data.task_type,
            metric=metric_obj.name,
            classes=data.classes,
            test_ids=data.test_ids,
            predictions=None,
            probabilities=None,
            history=run.history,
            stopped_reason=stop[0] if stop else COMPLETED,
            stop_message=stop[1] if stop else f"completed {run.epochs_done} epochs",
            epochs_run=run.epochs_done,
            best_epoch=best_epoch,
            n_parameters=n_params,
            n_trainable=n_trainable,
            device=str(dev),
            precision=precision,
            preprocessing={
                "standardize": standardizer.as_dict(),
                "target_mean": tensors.y_mean,
                "target_std": tensors.y_std,
            },
        )
        if result.stopped_reason == CANCELLED or no_model:
            result.seconds = time.perf_counter() - run.start
            return result

        if pre_cfg is not None or _get(config, "finetune") is not None:
            model = _merge_adapters(model)
        _predict(run, model, tensors, result)
        for rec in reversed(run.history):
            if rec["val_metric"] is not None and (best_epoch is None or rec["epoch"] == best_epoch):
                result.val_metric = rec["val_metric"]
                break
        result.state_dict = {
            k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()
        }
        if out_dir is not None:
            result.weights_path = save_weights(result, config, Path(out_dir) / "weights.safetensors")
        result.seconds = time.perf_counter() - run.start
        return result


def _pretrain_cfg(pre_cfg, tcfg) -> dict:
    """The training settings of the pre-training phase: train's, with pretrain's overrides."""
    return {
        "batch_size": _get(pre_cfg, "batch_size", _get(tcfg, "batch_size", 64)),
        "optimizer": _get(pre_cfg, "optimizer", _get(tcfg, "optimizer")),
        "scheduler": _get(pre_cfg, "scheduler", _get(tcfg, "scheduler")),
        "early_stopping": _get(tcfg, "early_stopping"),
    }


def _prepare_finetune(model: nn.Module, config, source: TrainData, target: TrainData) -> nn.Module:
    """After pre-training, `workers.lora.prepare_finetune` (the one implementation of
    the spec's modes and freezing rules) with the head decided by the data."""
    from workers.lora import prepare_finetune
    from workers.spec import FinetuneSpec

    # A head trained on other labels means nothing for these: start it afresh,
    # also when only the label names differ (digits 0-4 -> 5-9, same count).
    new_head = source.classes != target.classes or source.n_outputs != target.n_outputs
    # Pre-training without a finetune section: the whole network trains on the target (mode full).
    finetune = _get(config, "finetune") or FinetuneSpec()
    return prepare_finetune(model, finetune, target.n_outputs, new_head=new_head)


def _merge_adapters(model: nn.Module) -> nn.Module:
    from workers import build

    return build.merge_lora(model)


def _predict(run: _Run, model: nn.Module, tensors: _Tensors, result: TrainResult) -> None:
    out = run.forward_all(model, tensors.X_test)
    if tensors.n_classes is not None:
        proba = torch.softmax(out, dim=1).double().cpu().numpy()
        result.probabilities = proba
        result.predictions = np.asarray(result.classes, dtype=object)[proba.argmax(axis=1)]
    else:
        result.predictions = out.reshape(-1).double().cpu().numpy() * tensors.y_std + tensors.y_mean


# --------------------------------------------------------------------------- outputs


def _config_json(config) -> str:
    if hasattr(config, "model_dump"):
        return json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return json.dumps(config, sort_keys=True, default=str)


def save_weights(result: TrainResult, config, path: Path) -> Path:
    """Weights as safetensors (never pickle), with the config and input
    normalisation in the metadata so the file alone reproduces predictions."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": "podium-weights-1",
        "config": _config_json(config),
        "preprocessing": json.dumps(result.preprocessing),
        "classes": json.dumps(result.classes),
        "task_type": result.task_type,
    }
    tmp = path.with_suffix(path.suffix + ".part")
    save_file(result.state_dict, str(tmp), metadata=metadata)
    tmp.replace(path)  # never a half-written weights file under the final name
    return path


def predictions_csv(result: TrainResult, manifest: Mapping | TrainData, metric: str | None = None) -> bytes:
    """The test predictions in the sample-submission format: `id,<target>`
    with a label or number per row, or `id,<class>...` probabilities for
    probability metrics (log_loss, roc_auc)."""
    import csv

    if result.predictions is None:
        raise TrainError(f"the run has no predictions: {result.stop_message}")
    manifest = getattr(manifest, "manifest", manifest)  # a TrainData works too
    id_col = manifest.get("id_column", "id")
    metric = metric or result.metric
    needs_proba = False
    if result.task_type == "classification":
        from datasets.metrics import get_metric

        needs_proba = get_metric(metric).needs_proba
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    ids = [str(i) for i in result.test_ids]
    if needs_proba:
        writer.writerow([id_col, *result.classes])
        for i, row in zip(ids, result.probabilities, strict=True):
            writer.writerow([i, *(repr(float(p)) for p in row)])
    elif result.task_type == "classification":
        writer.writerow([id_col, manifest["target"]])
        writer.writerows(zip(ids, (str(p) for p in result.predictions), strict=True))
    else:
        writer.writerow([id_col, manifest["target"]])
        writer.writerows(zip(ids, (repr(float(p)) for p in result.predictions), strict=True))
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- local runner


def score_on_test_labels(result: TrainResult, data: TrainData, metric: str | None = None) -> float | None:
    """A metric (default: the run's) on the hidden test labels (local runs only: the catalog has them)."""
    if data.test_labels is None or result.predictions is None:
        return None
    from datasets.metrics import get_metric

    metric = get_metric(metric or result.metric)
    if result.task_type == "classification":
        y = data.target_indices(data.test_labels)
        pred = result.probabilities if metric.needs_proba else result.probabilities.argmax(axis=1)
        return metric(y, pred, len(result.classes))
    return metric(np.asarray(data.test_labels, dtype=np.float64), result.predictions, None)


def run_local(
    config_path: str | Path,
    dataset: str,
    *,
    device: str = "cpu",
    out_dir: str | Path | None = None,
    epochs: int | None = None,
    budget: Budget | Mapping | None = None,
    progress: bool = True,
) -> dict:
    """What the command line does; returns the metrics JSON it writes.

    `budget` is a competition's budget, enforced by the trainer as on the
    platform's workers: a run it stops is reported with the trainer's reason."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from workers.spec import parse_config

    config_path = Path(config_path)
    config = parse_config(config_path.read_text(encoding="utf-8"))
    if epochs is not None:
        config = with_epochs(config, epochs)
    data = load_dataset(dataset, with_test_labels=True)
    budget = Budget.coerce(budget)
    refused = _check_config_for(config, data, budget)
    out = Path(out_dir) if out_dir else Path("var") / "runs" / f"{config_path.stem}-{dataset}"
    console = Console(stderr=True)

    def say(text: str) -> None:
        # Plain text on one line: no rich markup in config paths or messages, no wrapping.
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    for problem in refused:
        say(
            f"note: the platform would refuse this config under that budget: {problem.path}: {problem.message}"
        )

    def capped(n: int) -> int:
        return n if budget.max_epochs is None else min(n, budget.max_epochs)

    pre_epochs = _get(_get(config, "pretrain"), "epochs", 0)
    total = capped(int(_get(_train_cfg(config), "epochs", 1))) + capped(int(pre_epochs))

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    ) as bar:
        task = bar.add_task(config_path.stem, total=total, info="")

        def on_epoch(rec):
            vm = rec["val_metric"]
            info = f"{rec['phase']} loss {rec['train_loss']:.4f}"
            if vm is not None:
                info += f"  val {vm['name']} {vm['value']:.4f}"
            bar.update(task, advance=1, info=info)

        result = train(config, data, device=device, on_epoch=on_epoch, budget=budget, out_dir=out)

    if result.stopped_reason != COMPLETED:
        say(f"stopped ({result.stopped_reason}): {result.stop_message}")
    score = score_on_test_labels(result, data)
    test_metrics = {}
    if score is not None:
        test_metrics[result.metric] = score
        if result.task_type == "classification" and result.metric != "accuracy":
            test_metrics["accuracy"] = score_on_test_labels(result, data, "accuracy")
    out.mkdir(parents=True, exist_ok=True)
    if result.predictions is not None:
        (out / "predictions.csv").write_bytes(predictions_csv(result, data.manifest))
    else:  # an earlier run's outputs in the same folder would pass for this one's
        for stale in ("predictions.csv", "weights.safetensors"):
            (out / stale).unlink(missing_ok=True)
    summary = result.summary() | {
        "dataset": dataset,
        "config": str(config_path),
        "test_metric": None if score is None else {"name": result.metric, "value": score},
        "test_metrics": test_metrics,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if result.predictions is None:
        raise TrainError(f"no predictions: {result.stop_message} (metrics in {out / 'metrics.json'})")
    vm = result.val_metric
    val_text = f"{vm['name']} {vm['value']:.4f}" if vm else "n/a"
    say(
        f"{config_path.name} on {dataset}: validation {val_text}"
        + "".join(f", test {name} {value:.4f}" for name, value in test_metrics.items())
        + f"; {result.epochs_run} epochs in {result.seconds:.1f} s ({result.stopped_reason}); outputs in {out}"
    )
    return summary


def _check_config_for(config, data: TrainData, budget: Budget | None = None) -> list:
    """The platform's own validation against the dataset, so a local run fails
    with the same path-named problems a submission would get. Returns the
    problems the budget alone adds (epochs over it): the platform refuses
    those, locally the trainer's cap applies, so the runner only notes them.
    Parameters over the budget fail in the trainer, as on a worker."""
    from common import protocol
    from datasets.catalog import BUILTINS
    from datasets.catalog import build as build_bundle
    from workers.spec import ConfigError, validate_for_dataset

    pretrain = _get(_get(config, "pretrain"), "dataset")
    allowed = [pretrain] if pretrain in BUILTINS else []  # locally, any catalog dataset may pre-train
    kwargs = {
        "allowed_pretrain": allowed,
        "pretrain_manifests": {p: build_bundle(p).manifest for p in allowed},
    }
    problems = validate_for_dataset(config, data.manifest, **kwargs)
    if problems:
        raise ConfigError(problems)
    if budget is None or budget.max_epochs is None:
        return []
    return validate_for_dataset(
        config, data.manifest, budget=protocol.Budget(epochs=budget.max_epochs), **kwargs
    )


def with_epochs(config, epochs: int):
    """A copy of the config with train.epochs (and pretrain.epochs) set: for quick runs.

    The copy goes through the whole schema again (`load_config`), so it is a
    config the platform would accept. A warm-up as long as the cut run is
    shortened to leave one epoch after it; a one-epoch run has no room for
    one, so `warmup_cosine` becomes plain `cosine` there."""
    from workers.spec import load_config

    data = config.model_dump(mode="json")
    data["train"]["epochs"] = epochs
    if data.get("pretrain"):
        data["pretrain"]["epochs"] = epochs
    for holder in (data["train"], data.get("pretrain") or {}):
        scheduler = holder.get("scheduler") or {}
        if scheduler.get("warmup_epochs", 0) >= epochs >= 1:
            scheduler["warmup_epochs"] = epochs - 1
            if epochs == 1 and scheduler.get("name") == "warmup_cosine":
                scheduler["name"] = "cosine"
    return load_config(data)


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a finite number > 0 of `kind` (int or float)."""
    import argparse

    what = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {what}: {text!r}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    import argparse

    from workers.spec import ConfigError

    parser = argparse.ArgumentParser(
        prog="python -m workers.train", description="Train a model config locally."
    )
    parser.add_argument("config", help="a model config, YAML or JSON")
    parser.add_argument("--dataset", required=True, help="a catalog dataset slug, e.g. digits")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default=None, help="output folder (default var/runs/<config>-<dataset>)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (quick checks)")
    limits = parser.add_argument_group(
        "budget", "a competition's budget, enforced by the trainer as on the platform's workers"
    )
    limits.add_argument("--max-seconds", type=_positive(float), default=None, help="wall-clock seconds")
    limits.add_argument("--max-epochs", type=_positive(int), default=None, help="epochs per phase")
    limits.add_argument("--max-params", type=_positive(int), default=None, help="model parameters")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is fastest for small models on a busy machine)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    try:
        run_local(
            args.config,
            args.dataset,
            device=args.device,
            out_dir=args.out,
            epochs=args.epochs,
            budget=Budget(args.max_epochs, args.max_params, args.max_seconds),
            progress=not args.no_progress,
        )
    except TrainError as exc:
        parser.exit(1, f"error: {exc}\n")
    except ConfigError as exc:
        lines = "\n".join(f"  {p.path or '(config)'}: {p.message}" for p in exc.problems)
        parser.exit(1, f"error: {args.config} has problems:\n{lines}\n")
    except (OSError, KeyError) as exc:  # a missing file, an unknown dataset slug
        parser.exit(1, f"error: {exc.args[-1] if isinstance(exc, KeyError) else exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

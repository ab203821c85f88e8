"""A dataset on the device for the whole run.

The splits are standardised and copied to the device once, before training: a
batch is then one `index_select` into these tensors, never a Python loop over
samples, so the loop costs what the model costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from workers.data import Standardizer, TrainData, stratified_split


@dataclass
class DeviceTensors:
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    y_val_np: np.ndarray  # validation targets in the dataset's units, for the metric
    X_test: torch.Tensor
    n_classes: int | None  # None: regression
    y_mean: float = 0.0
    y_std: float = 1.0

    @property
    def classification(self) -> bool:
        return self.n_classes is not None

    @property
    def has_validation(self) -> bool:
        return self.X_val.shape[0] > 0


def to_device(
    data: TrainData,
    *,
    seed: int,
    val_fraction: float,
    device: torch.device,
    standardizer: Standardizer | None = None,
) -> tuple[DeviceTensors, Standardizer]:
    """The train/validation split of `data` (seeded, stratified for classification) and its
    test rows as device tensors, standardised by `standardizer` (fitted on the training rows
    when not given)."""
    classification = data.task_type == "classification"
    y = data.target_indices()
    train_rows, val_rows = stratified_split(y, val_fraction, seed, stratify=classification)
    X_tr = data.X_train[train_rows]
    if standardizer is None:
        standardizer = Standardizer.fit(X_tr, raw=data.raw_features)

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
    tensors = DeviceTensors(
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

"""Example Podium metric plugins (see README.md): one that works, three that misbehave."""

import time

import numpy as np

from datasets.metrics import MeanOfRows, Metric


def _errors(y_true, y_pred):
    return (y_true != y_pred).astype(np.float64)


def error_rate(y_true, y_pred, n_classes=None):
    return float(_errors(y_true, y_pred).mean())


ERROR_RATE = Metric(
    name="example_error_rate",
    title="Error rate (example plugin)",
    task_type="classification",
    higher_is_better=False,
    needs_proba=False,
    fn=error_rate,
    resampling=MeanOfRows(_errors),
    description="The share of rows whose predicted class is wrong: 1 - accuracy.",
)


def _raises(y_true, y_pred, n_classes=None):
    raise ZeroDivisionError("the example plugin divides by zero on purpose")


def _nan(y_true, y_pred, n_classes=None):
    return float("nan")


def _slow(y_true, y_pred, n_classes=None):
    time.sleep(3600)
    return 0.0


def _misbehaving(name, fn):
    return Metric(
        name=name,
        title=f"{name} (misbehaves on purpose)",
        task_type="classification",
        higher_is_better=True,
        needs_proba=False,
        fn=fn,
        description="For the scorer's isolation tests.",
    )


RAISES = _misbehaving("example_raises", _raises)
RETURNS_NAN = _misbehaving("example_nan", _nan)
TOO_SLOW = _misbehaving("example_slow", _slow)
NOT_A_METRIC = {"name": "example_dict"}

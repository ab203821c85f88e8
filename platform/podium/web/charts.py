"""Chart specs for site.js (Chart.js) from the epochs a worker reported, and the config diff."""

from __future__ import annotations

import difflib

import yaml

LOSS_KEYS = (("train_loss", "train loss"), ("val_loss", "validation loss"))
METRIC_KEYS = (("train_metric", "train metric"), ("val_metric", "validation metric"))


def _num(value):
    if isinstance(value, dict):
        # The trainer reports a metric as {"name": "accuracy", "value": 0.93} (workers.training).
        value = value.get("value")
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None  # NaN/inf break JSON and the chart


def _series(epochs, keys, *, prefix="", dashed=False):
    out = []
    for key, label in keys:
        data = [_num((e.data or {}).get(key)) for e in epochs]
        if any(v is not None for v in data):
            out.append({"label": prefix + label, "data": data, "dashed": dashed})
    return out


def _labels(epochs):
    return [e.epoch for e in epochs]


def _metric_name(*epoch_lists) -> str:
    """The metric's name from the epochs' reports, for the axis; "metric" when none says."""
    for epochs in epoch_lists:
        for e in epochs:
            for key, _ in METRIC_KEYS:
                value = (e.data or {}).get(key)
                if isinstance(value, dict) and value.get("name"):
                    return str(value["name"]).replace("_", " ")
    return "metric"


def submission_charts(epochs, *, variants=(), kept: int | None = None) -> dict:
    """The entry page's charts. `variants`: a sweep's or an ensemble's models (their labels,
    `workers.spec.Variant`), each drawn in a colour of its own; `kept`: the sweep's winner."""
    if variants:
        return _variant_charts(epochs, variants, kept)
    return _single_charts(epochs)


def _variant_name(variant, kept: int | None) -> str:
    mark = " ★ kept" if variant.index == kept else ""
    return f"{variant.index}: {variant.label}{mark}"


def _variant_charts(epochs, variants, kept: int | None) -> dict:
    """Every variant's curves on one x axis of epoch numbers (each variant counts its own),
    one colour per variant; the kept one drawn thicker. The gradient chart is of one variant
    (the kept one, else the first): every layer of every variant would be unreadable."""
    labels = sorted({e.epoch for e in epochs})
    by_variant: dict[int, dict] = {}
    for e in epochs:
        by_variant.setdefault(e.variant, {})[e.epoch] = e

    def series(key, label, variant, *, dashed=False):
        rows = by_variant.get(variant.index, {})
        data = [_num((rows[n].data or {}).get(key)) if n in rows else None for n in labels]
        if not any(v is not None for v in data):
            return []
        return [
            {
                "label": f"{_variant_name(variant, kept)} {label}".strip(),
                "data": data,
                "dashed": dashed,
                "color": variant.index,
                "bold": variant.index == kept,
            }
        ]

    loss, metric = [], []
    for v in variants:
        loss += series("val_loss", "", v) + series("train_loss", "(train)", v, dashed=True)
        metric += series("val_metric", "", v)
    shown = kept if kept is not None else variants[0].index
    grad = _single_charts([e for e in epochs if e.variant == shown])["grad"]
    grad["variant"] = _variant_name(next(v for v in variants if v.index == shown), kept)
    return {
        "loss": {"labels": labels, "series": loss, "ylabel": "validation loss (dashed: training)"},
        "metric": {"labels": labels, "series": metric, "ylabel": f"validation {_metric_name(epochs)}"},
        "grad": grad,
    }


def _single_charts(epochs) -> dict:
    layers: list[str] = []
    for e in epochs:
        for name in (e.data or {}).get("grad_norms") or {}:
            if name not in layers:
                layers.append(name)
    grad = [
        {
            "label": name,
            # Log axis: a zero norm cannot be drawn; it shows as a gap, which is itself the signal.
            "data": [
                (v if (v := _num(((e.data or {}).get("grad_norms") or {}).get(name))) and v > 0 else None)
                for e in epochs
            ],
        }
        for name in layers
    ]
    labels = _labels(epochs)
    return {
        "loss": {"labels": labels, "series": _series(epochs, LOSS_KEYS), "ylabel": "loss"},
        "metric": {"labels": labels, "series": _series(epochs, METRIC_KEYS), "ylabel": _metric_name(epochs)},
        "grad": {"labels": labels, "series": grad, "ylabel": "gradient norm (log)", "log": True},
    }


def compare_charts(a, epochs_a, b, epochs_b) -> dict:
    n = max([e.epoch for e in epochs_a] + [e.epoch for e in epochs_b] + [0])
    labels = list(range(min([e.epoch for e in epochs_a + epochs_b] or [1]), n + 1))

    def aligned(epochs):
        by = {e.epoch: e for e in epochs}
        return [by.get(i) for i in labels]

    def series(sub, epochs, keys, dashed):
        rows = aligned(epochs)
        out = []
        for key, label in keys:
            data = [_num((r.data or {}).get(key)) if r else None for r in rows]
            if any(v is not None for v in data):
                out.append({"label": f"#{sub.pk} {label}", "data": data, "dashed": dashed})
        return out

    return {
        "loss": {
            "labels": labels,
            "series": series(a, epochs_a, LOSS_KEYS, False) + series(b, epochs_b, LOSS_KEYS, True),
            "ylabel": "loss",
        },
        "metric": {
            "labels": labels,
            "series": series(a, epochs_a, METRIC_KEYS, False) + series(b, epochs_b, METRIC_KEYS, True),
            "ylabel": _metric_name(epochs_a, epochs_b),
        },
    }


# Layers that rescale rather than transform: left out of the depth chart, so that the same
# depth of linear or convolutional layers lines up across arms with and without BatchNorm.
_NORM_LAYERS = ("batchnorm", "layernorm")


def claim_charts(arms: list[dict], *, metric: str) -> dict:
    """A claim page's charts from its stored arms (`claim_verdicts.summarize_arms`): the model
    arms' curves averaged over seeds, one colour per arm (the index of the arm in the study).
    `gradients`: each arm's gradient norm by depth in the first epoch (solid) and the last
    (dashed); `cost`: score against multiply-adds per example."""
    models = [(i, a) for i, a in enumerate(arms) if a.get("curves", {}).get("epochs")]
    labels = sorted({n for _, a in models for n in a["curves"]["epochs"]})

    def aligned(arm, key):
        by = dict(zip(arm["curves"]["epochs"], arm["curves"].get(key) or [], strict=False))
        return [by.get(n) for n in labels]

    loss, score = [], []
    for i, arm in models:
        if "val_loss" in arm["curves"]:
            loss.append({"label": arm["label"], "data": aligned(arm, "val_loss"), "color": i})
        if "train_loss" in arm["curves"]:
            loss.append(
                {
                    "label": f"{arm['label']} (train)",
                    "data": aligned(arm, "train_loss"),
                    "color": i,
                    "dashed": True,
                }
            )
        if "val_metric" in arm["curves"]:
            score.append({"label": arm["label"], "data": aligned(arm, "val_metric"), "color": i})

    depth, gradients = 0, []
    for i, arm in models:
        norms = {
            k: v for k, v in (arm["curves"].get("grad_norms") or {}).items() if not k.endswith(_NORM_LAYERS)
        }
        if not norms:
            continue
        depth = max(depth, len(norms))
        for at, label, dashed in ((0, "first epoch", False), (-1, "last epoch", True)):
            values = [_num(series[at]) if series else None for series in norms.values()]
            gradients.append(
                {
                    "label": f"{arm['label']}, {label}",
                    "data": [v if v and v > 0 else None for v in values],
                    "color": i,
                    "dashed": dashed,
                }
            )

    cost = [
        {"label": arm["label"], "data": [{"x": arm["multiply_adds"], "y": arm["mean"]}], "color": i}
        for i, arm in enumerate(arms)
        if arm.get("multiply_adds") and arm.get("mean") is not None
    ]
    name = metric.replace("_", " ")
    return {
        "loss": {"labels": labels, "series": loss, "ylabel": "validation loss (dashed: training)"},
        "metric": {"labels": labels, "series": score, "ylabel": f"validation {name}"},
        "gradients": {
            "labels": list(range(1, depth + 1)),
            "series": gradients,
            "ylabel": "gradient norm (log)",
            "xlabel": "layer, from the input (normalisation layers left out)",
            "log": True,
        },
        "cost": {
            "type": "scatter",
            "series": cost,
            "ylabel": f"test {name}",
            "xlabel": "multiply-adds per example",
        },
    }


def config_text(submission) -> str:
    if submission.config_text:
        return submission.config_text
    if submission.config is not None:
        return yaml.safe_dump(submission.config, sort_keys=False)
    return ""


def config_diff(a, b) -> list[tuple[str, str]]:
    left, right = config_text(a), config_text(b)
    if not left and not right:
        return []
    lines = difflib.unified_diff(
        left.splitlines(), right.splitlines(), f"#{a.pk}", f"#{b.pk}", lineterm="", n=3
    )
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            cls = "hunk"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        else:
            cls = ""
        out.append((cls, line))
    return out


# --- an ablation's curves ---------------------------------------------------------------


def _layer_kind(layer: str) -> str:
    """`layers.2.residual.block.0.conv2d` -> `conv2d`: the technique a gradient norm's layer is."""
    return layer.rsplit(".", 1)[-1]


def _model_order(layers) -> list[str]:
    """Layer paths in the model's order: `layers.2…` before `layers.10…`. The order a worker
    sent them in is not kept: PostgreSQL's jsonb sorts an object's keys."""
    return sorted(
        layers, key=lambda layer: [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in layer.split(".")]
    )


def _depth_slots(layers: list[str]) -> list[str]:
    """Each layer as its kind and place among the layers of that kind ("conv2d 2"), so that
    variants line up layer by layer although one lacks a layer another has: removing a
    BatchNorm shifts every later layer's index, not the second conv2d's being the second."""
    seen: dict[str, int] = {}
    slots = []
    for layer in layers:
        kind = _layer_kind(layer)
        seen[kind] = seen.get(kind, 0) + 1
        slots.append(f"{kind} {seen[kind]}")
    return slots


def ablation_charts(curves: dict[str, dict], *, baseline: str) -> dict | None:
    """An ablation's charts, one colour per run (the baseline, the original config, bold):
    - loss: each run's validation loss per epoch (training loss dashed);
    - flow: gradient flow, each run's per-layer gradient norm at its last epoch, from the
      input side to the output (log scale): a line that falls towards the input vanishes;
    - ratio: per epoch, the first layer's gradient norm over the last layer's (log scale),
      the vanishing-gradient signal over training.
    `curves`: per run key, what the API answers (`podium.lab.selectors.run_curves`: `epochs`,
    `train_loss`, `val_loss`, `grad_norms` {layer: per epoch}), in the table's order.
    None when no run has reported an epoch yet."""
    curves = {key: c for key, c in curves.items() if c.get("epochs")}
    if not curves:
        return None
    labels = sorted({n for c in curves.values() for n in c["epochs"]})
    loss, ratio, flow = [], [], []
    slots: list[str] = []
    for color, (key, curve) in enumerate(curves.items()):
        at = {n: i for i, n in enumerate(curve["epochs"])}
        name = "original" if key == baseline else key
        bold = key == baseline

        def per_epoch(values, at=at):
            return [_num(values[at[n]]) if n in at and at[n] < len(values) else None for n in labels]

        for field, suffix, dashed in (("val_loss", "", False), ("train_loss", " (train)", True)):
            data = per_epoch(curve.get(field) or [])
            if any(v is not None for v in data):
                loss.append(
                    {"label": name + suffix, "data": data, "dashed": dashed, "color": color, "bold": bold}
                )
        norms = curve.get("grad_norms") or {}
        layers = _model_order(norms)
        if len(layers) > 1:
            first, last = per_epoch(norms[layers[0]]), per_epoch(norms[layers[-1]])
            # Log axis: a zero or missing norm is a gap, not a point at zero.
            data = [a / b if a and b and a > 0 and b > 0 else None for a, b in zip(first, last, strict=True)]
            if any(v is not None for v in data):
                ratio.append({"label": name, "data": data, "color": color, "bold": bold})
        final = {layer: _num((norms[layer] or [None])[-1]) for layer in layers}
        if any(v is not None for v in final.values()):
            own = dict(zip(_depth_slots(layers), final.values(), strict=True))
            after = -1  # a slot of this run the others lack goes after its own previous one
            for slot in own:
                if slot not in slots:
                    slots.insert(after + 1, slot)
                after = slots.index(slot)
            flow.append((name, color, bold, own))
    return {
        "loss": {"labels": labels, "series": loss, "ylabel": "validation loss (dashed: training)"},
        "flow": {
            "labels": slots,
            "series": [
                {
                    "label": name,
                    "data": [(v if (v := own.get(slot)) and v > 0 else None) for slot in slots],
                    "color": color,
                    "bold": bold,
                }
                for name, color, bold, own in flow
            ],
            "ylabel": "gradient norm at the last epoch (log)",
            "xlabel": "layer, input side first",
            "log": True,
        },
        "ratio": {
            "labels": labels,
            "series": ratio,
            "ylabel": "first layer's gradient norm ÷ last layer's (log)",
            "log": True,
        },
    }

"""A claim's runs summed up: each arm's scores over seeds with the mean and its 95% interval,
the curves averaged over seeds, and the study's checks decided (`claims.Check`).

Input is plain data, one `RunOutcome` per arm and seed (the command builds them from the lab's
runs and the classical baselines), so the arithmetic is tested without training anything.

Intervals are Student-t intervals over seeds: mean ± t(0.975, n−1)·sd/√n. A comparison of two
arms is paired by seed (the arms of a seed share its initial draw and validation split), so its
interval is the t interval of the per-seed differences. With three seeds t is 4.30: only a
difference that is large against the seed-to-seed spread counts as beyond noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import fmean, stdev

from podium.lab.claims import Check, Claim

# How the trainer's divergence stop begins its message (workers.training.divergence, the runner).
DIVERGED = "training diverged"


@dataclass
class RunOutcome:
    arm: str
    seed: int
    score: float | None  # None: the run failed (error says why)
    params: int | None = None
    trainable: int | None = None
    multiply_adds: int | None = None
    seconds: float | None = None
    # The trainer's per-epoch reports: epoch, train_loss, val_loss, val_metric, grad_norms.
    epochs: list[dict] = field(default_factory=list)
    error: str = ""

    @property
    def diverged(self) -> bool:
        """The arm's own outcome (its loss blew up), not a platform fault: it counts against
        the arm in a comparison, where a lost worker leaves the comparison undecided."""
        return self.score is None and self.error.startswith(DIVERGED)


def t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean; a single value has none (its
    bounds are the value: say n beside it)."""
    mean = fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = t_quantile(len(values) - 1) * stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _number(value) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _layer_order(name: str) -> tuple:
    """Config paths (`layers.3.linear`, `layers.4.residual.0.linear`) in network order."""
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def gradient_ratio(epochs: list[dict]) -> float | None:
    """The first trained layer's gradient norm over the last layer's, in the first epoch of the
    last phase (the epoch where a vanishing gradient shows before training changes the net)."""
    if not epochs:
        return None
    last_phase = epochs[-1].get("phase")
    phase = [e for e in epochs if e.get("phase") == last_phase] or epochs
    norms = phase[0].get("grad_norms") or {}
    layers = sorted(norms, key=_layer_order)
    if len(layers) < 2:
        return None
    first, last = _number(norms[layers[0]]), _number(norms[layers[-1]])
    if first is None or not last:
        return None
    return first / last


def _geometric_mean(values: list[float]) -> float | None:
    positive = [v for v in values if v and v > 0]
    if not positive:
        return 0.0 if values else None
    return math.exp(fmean(math.log(v) for v in positive))


def _mean_curves(runs: list[RunOutcome]) -> dict:
    """Per epoch, the mean over seeds of the losses and the metric, and the geometric mean of
    each layer's gradient norm (norms span orders of magnitude; the chart's axis is log)."""
    by_epoch: dict[int, list[dict]] = {}
    for run in runs:
        for e in run.epochs:
            if isinstance(e.get("epoch"), int):
                by_epoch.setdefault(e["epoch"], []).append(e)
    epochs = sorted(by_epoch)
    curves: dict = {"epochs": epochs}
    for key in ("train_loss", "val_loss", "val_metric"):
        series = []
        for n in epochs:
            values = [v for e in by_epoch[n] if (v := _number(e.get(key))) is not None]
            series.append(round(fmean(values), 6) if values else None)
        if any(v is not None for v in series):
            curves[key] = series
    layers: list[str] = []
    for n in epochs:
        for e in by_epoch[n]:
            for name in e.get("grad_norms") or {}:
                if name not in layers:
                    layers.append(name)
    curves["grad_norms"] = {
        name: [
            _round(
                _geometric_mean(
                    [
                        v
                        for e in by_epoch[n]
                        if (v := _number((e.get("grad_norms") or {}).get(name))) is not None
                    ]
                )
            )
            for n in epochs
        ]
        for name in sorted(layers, key=_layer_order)
    }
    return curves


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.4g}")


def _first(values):
    return next((v for v in values if v is not None), None)


def summarize_arms(claim: Claim, outcomes: list[RunOutcome]) -> list[dict]:
    rows = []
    for arm in claim.arms:
        runs = sorted((o for o in outcomes if o.arm == arm.key), key=lambda o: o.seed)
        done = [o for o in runs if o.score is not None]
        scores = [o.score for o in done]
        mean, low, high = mean_interval(scores) if scores else (None, None, None)
        ratios = [r for o in done if (r := gradient_ratio(o.epochs)) is not None]
        seconds = [o.seconds for o in done if o.seconds is not None]
        rows.append(
            {
                "key": arm.key,
                "label": arm.label,
                "technique": arm.technique,
                "kind": "model" if arm.is_model else "classical",
                "scores": {str(o.seed): round(o.score, 6) for o in done},
                "failed": {str(o.seed): o.error or "failed" for o in runs if o.score is None},
                "diverged": sorted(str(o.seed) for o in runs if o.diverged),
                "n": len(scores),
                "mean": None if mean is None else round(mean, 6),
                "low": None if low is None else round(low, 6),
                "high": None if high is None else round(high, 6),
                "params": _first(o.params for o in runs),
                "trainable": _first(o.trainable for o in runs),
                "multiply_adds": _first(o.multiply_adds for o in runs),
                "seconds": round(fmean(seconds), 2) if seconds else None,
                "gradient_ratio": _round(_geometric_mean(ratios)) if ratios else None,
                "curves": _mean_curves(done) if arm.is_model else {},
            }
        )
    return rows


def _points(x: float) -> str:
    return f"{x * 100:+.1f}"


def _ratio(x: float) -> str:
    return f"{x:.2g}"


def decide(check: Check, arms: dict[str, dict], *, higher_is_better: bool = True) -> dict:
    """{text, holds (True/False, or None when it cannot be decided), detail}."""
    a = arms[check.arm]
    b = arms.get(check.other) if check.other else None
    label_a, label_b = a["label"], b["label"] if b else ""
    if check.kind in ("beats", "matches"):
        text = (
            f"{label_a} scores above {label_b}, beyond the seeds' noise"
            if check.kind == "beats"
            else f"{label_a} scores no more than {check.value * 100:g} points below {label_b}"
        )
        pairs = [(a["scores"][s], b["scores"][s]) for s in a["scores"] if s in b["scores"]]
        # A seed where one arm diverged and the other trained is that seed lost by the arm
        # that diverged, whatever the scores.
        a_lost = [s for s in a.get("diverged", ()) if s in b["scores"]]
        b_lost = [s for s in b.get("diverged", ()) if s in a["scores"]]
        diverged = "; ".join(
            f"{row['label']} diverged on seed{'s' if len(lost) > 1 else ''} {', '.join(lost)}"
            for row, lost in ((a, a_lost), (b, b_lost))
            if lost
        )
        if a_lost:
            return {"text": text, "holds": False, "detail": diverged}
        sign = 1 if higher_is_better else -1
        diffs = [sign * (x - y) for x, y in pairs]
        if len(pairs) >= 2:
            mean, low, high = mean_interval(diffs)
            detail = (
                f"difference {_points(mean)} points [{_points(low)}, {_points(high)}] over {len(pairs)} seeds"
            )
            holds = low > 0 if check.kind == "beats" else low > -check.value
            return {
                "text": text,
                "holds": holds,
                "detail": f"{detail}; {diverged}" if diverged else detail,
                "diff": [mean, low, high],
            }
        if b_lost and len(pairs) + len(b_lost) >= 2:
            # Too few seeds trained on both sides for an interval: the arm holds if it trained
            # wherever the other diverged and scored higher on any seed both trained.
            holds = (
                all(d > 0 for d in diffs) if check.kind == "beats" else all(d > -check.value for d in diffs)
            )
            both = f"; difference {_points(diffs[0])} points on the seed both trained" if diffs else ""
            return {"text": text, "holds": holds, "detail": diverged + both}
        return {"text": text, "holds": None, "detail": "fewer than two seeds finished for both arms"}
    if check.kind in ("cheaper", "fewer_trainable"):
        fields = ("params", "multiply_adds") if check.kind == "cheaper" else ("trainable",)
        text = (
            f"{label_a} needs at most {check.value:g}× the parameters and multiply-adds of {label_b}"
            if check.kind == "cheaper"
            else f"{label_a} trains at most {check.value:g}× the parameters of {label_b}"
        )
        parts, holds = [], True
        for f in fields:
            if not a.get(f) or not b.get(f):
                return {
                    "text": text,
                    "holds": None,
                    "detail": f"no {f.replace('_', '-')} count for both arms",
                }
            ratio = a[f] / b[f]
            holds = holds and ratio <= check.value
            parts.append(f"{f.replace('_', '-')} {a[f]:,} vs {b[f]:,} (×{ratio:.2f})")
        return {"text": text, "holds": holds, "detail": "; ".join(parts)}
    # gradients_vanish / gradients_flow
    ratio = a.get("gradient_ratio")
    text = (
        f"{label_a}: the first layer's gradient norm is below {check.value:g}× the last layer's"
        if check.kind == "gradients_vanish"
        else f"{label_a}: the first layer's gradient norm is at least {check.value:g}× the last layer's"
    )
    if ratio is None:
        return {"text": text, "holds": None, "detail": "no per-layer gradient norms were reported"}
    holds = ratio < check.value if check.kind == "gradients_vanish" else ratio >= check.value
    return {
        "text": text,
        "holds": holds,
        "detail": f"first/last gradient norm {_ratio(ratio)} in the first epoch",
    }


def verdict(claim: Claim, arms: list[dict], *, higher_is_better: bool = True) -> dict:
    """{checks, reproduces (True/False/None), why}: the claim reproduces when every check holds;
    None when a check could not be decided (a failed arm) and none failed."""
    by_key = {row["key"]: row for row in arms}
    checks = [decide(c, by_key, higher_is_better=higher_is_better) for c in claim.checks]
    failed = [c for c in checks if c["holds"] is False]
    open_ = [c for c in checks if c["holds"] is None]
    if failed:
        why = (
            "Does not hold at this scale: " + "; ".join(f"{c['text']} ({c['detail']})" for c in failed) + "."
        )
        return {"checks": checks, "reproduces": False, "why": why}
    if open_:
        why = "Not decided: " + "; ".join(f"{c['text']} ({c['detail']})" for c in open_) + "."
        return {"checks": checks, "reproduces": None, "why": why}
    return {"checks": checks, "reproduces": True, "why": ""}

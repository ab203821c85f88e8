"""The claims registry: each claim of the post the project started from
(`../shared/seed/000_fc0ddf7cad419c20.txt`), and the study that measures it on the platform.

One YAML file per claim in `claim_studies/` (data, not code): the post's sentences in its
Chinese and in English, the built-in dataset(s), the arms (model configs trained by the real
workers, or classical scikit-learn baselines), how many seeds, what is plotted, and the checks
that decide whether the claim reproduces. The checks are written before anything runs
(`claim_verdicts` evaluates them); a claim is never re-tuned until it holds.

An arm's config is an example config (`config: examples/….yaml`) or an inline one, changed by
a few declared edits, applied in this order:
- `activation: NAME`       every activation layer (also the bare ones inside residual blocks) becomes NAME;
- `without: [TECHNIQUE]`   every layer of those techniques is removed (nested ones too);
- `replace: {OLD: NEW}`    every OLD layer becomes a NEW layer with the same parameters;
- `unwrap_residual: true`  every residual block's layers are kept in place, the skip is gone;
- `set: {dotted.path: V}`  a value set (null removes the key), e.g. `train.optimizer.lr: 0.5`.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STUDIES_DIR = Path(__file__).resolve().parent / "claim_studies"
# The repository root, where `examples/` lives (platform/podium/lab/claims.py).
REPO_ROOT = Path(__file__).resolve().parents[3]

PLOTS = ("gradients", "loss", "cost")
CLASSICAL = ("bag_of_words", "logistic_regression", "svc_rbf", "random_forest")
MIN_SEEDS = 3


@dataclass(frozen=True)
class Check:
    """What must hold for the claim to reproduce.

    beats             arm's score minus other's, paired by seed: its 95% interval lies above 0
    matches           that difference's interval lies above -value (no worse by more than value)
    cheaper           arm's parameters and multiply-adds are at most value × other's
    fewer_trainable   arm's trainable parameters are at most value × other's
    gradients_vanish  arm's first-layer gradient norm over its last layer's (first epoch) < value
    gradients_flow    that ratio is >= value
    """

    kind: str
    arm: str
    other: str = ""
    value: float | None = None


CHECK_KINDS = {
    "beats": ("other",),
    "matches": ("other", "value"),
    "cheaper": ("other", "value"),
    "fewer_trainable": ("other", "value"),
    "gradients_vanish": ("value",),
    "gradients_flow": ("value",),
}


@dataclass(frozen=True)
class Quote:
    zh: str
    en: str


@dataclass(frozen=True)
class Arm:
    key: str
    label: str
    technique: str
    config: dict | None = None  # the model config (seed not yet set); None for a classical arm
    classical: str = ""  # one of CLASSICAL for a scikit-learn baseline run in the command

    @property
    def is_model(self) -> bool:
        return self.config is not None


@dataclass(frozen=True)
class Claim:
    slug: str
    title: str
    quotes: tuple[Quote, ...]
    dataset: str
    pretrain_dataset: str
    seeds: int
    plots: tuple[str, ...]
    arms: tuple[Arm, ...]
    checks: tuple[Check, ...]
    source: str  # the study file's name

    def arm(self, key: str) -> Arm:
        for arm in self.arms:
            if arm.key == key:
                return arm
        raise KeyError(f"claim {self.slug!r} has no arm {key!r}")

    @property
    def model_arms(self) -> tuple[Arm, ...]:
        return tuple(a for a in self.arms if a.is_model)

    @property
    def datasets(self) -> tuple[str, ...]:
        return (self.dataset, self.pretrain_dataset) if self.pretrain_dataset else (self.dataset,)


class ClaimStudyError(ValueError):
    """A study file that does not say what the registry needs; names the file and the field."""


def arm_config(claim: Claim, arm: Arm, seed: int) -> dict:
    """The arm's model config for one seed: the config's own seed is the run's seed, so the
    arms of a claim share their seeds (and a seed's validation split) and pair up."""
    if arm.config is None:
        raise ValueError(f"arm {arm.key!r} of {claim.slug!r} is a classical baseline, not a model config")
    config = copy.deepcopy(arm.config)
    config["seed"] = seed
    return config


def claim_list() -> list[Claim]:
    return list(_registry().values())


def claim_get(slug: str) -> Claim | None:
    return _registry().get(slug)


@functools.cache
def _registry() -> dict[str, Claim]:
    return load_studies(STUDIES_DIR)


def load_studies(folder: Path) -> dict[str, Claim]:
    """Every study file of a folder by slug, in file-name order."""
    claims: dict[str, Claim] = {}
    for path in sorted(folder.glob("*.yaml")):
        claim = load_study(path)
        if claim.slug in claims:
            raise ClaimStudyError(f"{path.name}: slug {claim.slug!r} is also {claims[claim.slug].source}'s")
        claims[claim.slug] = claim
    return claims


def load_study(path: Path) -> Claim:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name

    def need(mapping: dict, key: str, what: str) -> Any:
        if not isinstance(mapping, dict) or mapping.get(key) in (None, "", []):
            raise ClaimStudyError(f"{where}: {what} needs `{key}`")
        return mapping[key]

    slug = need(raw, "slug", "the study")
    datasets = need(raw, "datasets", "the study")
    dataset = need(datasets, "train", "`datasets`")
    pretrain = datasets.get("pretrain") or ""
    seeds = int(need(raw, "seeds", "the study"))
    if seeds < MIN_SEEDS:
        raise ClaimStudyError(f"{where}: seeds must be at least {MIN_SEEDS}, not {seeds}")
    plots = tuple(raw.get("plots") or ())
    for plot in plots:
        if plot not in PLOTS:
            raise ClaimStudyError(f"{where}: unknown plot {plot!r}; known: {', '.join(PLOTS)}")
    quotes = tuple(
        Quote(zh=need(q, "zh", f"quote {i + 1}"), en=need(q, "en", f"quote {i + 1}"))
        for i, q in enumerate(need(raw, "quotes", "the study"))
    )
    arms = tuple(_arm(a, where, pretrain) for a in need(raw, "arms", "the study"))
    keys = [a.key for a in arms]
    if len(set(keys)) != len(keys):
        raise ClaimStudyError(f"{where}: arm keys repeat: {keys}")
    checks = tuple(_check(c, where, set(keys)) for c in need(raw, "checks", "the study"))
    return Claim(
        slug=slug,
        title=need(raw, "title", "the study"),
        quotes=quotes,
        dataset=dataset,
        pretrain_dataset=pretrain,
        seeds=seeds,
        plots=plots,
        arms=arms,
        checks=checks,
        source=where,
    )


def _check(raw: dict, where: str, arms: set[str]) -> Check:
    kind = raw.get("kind")
    if kind not in CHECK_KINDS:
        raise ClaimStudyError(f"{where}: unknown check kind {kind!r}; known: {', '.join(CHECK_KINDS)}")
    for field in ("arm", *CHECK_KINDS[kind]):
        if raw.get(field) in (None, ""):
            raise ClaimStudyError(f"{where}: a {kind} check needs `{field}`")
    for field in ("arm", "other"):
        if raw.get(field) and raw[field] not in arms:
            raise ClaimStudyError(f"{where}: a {kind} check names arm {raw[field]!r}, which the study lacks")
    value = raw.get("value")
    return Check(
        kind=kind, arm=raw["arm"], other=raw.get("other", ""), value=None if value is None else float(value)
    )


def _arm(raw: dict, where: str, pretrain: str) -> Arm:
    key = raw.get("key")
    if not key:
        raise ClaimStudyError(f"{where}: an arm needs `key`")
    where = f"{where}, arm {key!r}"
    label = raw.get("label") or key
    technique = raw.get("technique") or ""
    if raw.get("classical"):
        if raw["classical"] not in CLASSICAL:
            raise ClaimStudyError(
                f"{where}: unknown classical model {raw['classical']!r}; known: {', '.join(CLASSICAL)}"
            )
        return Arm(key=key, label=label, technique=technique, classical=raw["classical"])
    source = raw.get("config")
    if isinstance(source, str):
        path = REPO_ROOT / source
        if not path.is_file():
            raise ClaimStudyError(f"{where}: config {source!r} is not a file of the repository")
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    elif isinstance(source, dict):
        config = copy.deepcopy(source)
    else:
        raise ClaimStudyError(f"{where}: needs `config` (an examples/ path or a mapping) or `classical`")
    layers = config["model"]["layers"]
    if raw.get("activation"):
        layers = _swap_activation(layers, raw["activation"])
    if raw.get("without"):
        layers = _without(layers, set(raw["without"]))
    for old, new in (raw.get("replace") or {}).items():
        layers = _replace(layers, old, new)
    if raw.get("unwrap_residual"):
        layers = _unwrap_residual(layers)
    config["model"]["layers"] = layers
    for dotted, value in (raw.get("set") or {}).items():
        _set(config, dotted, copy.deepcopy(value))
    if pretrain and config.get("pretrain"):
        # The transfer pair is the study's one `datasets` line.
        config["pretrain"]["dataset"] = pretrain
    return Arm(key=key, label=label, technique=technique, config=config)


def _tag(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and len(item) == 1:
        return next(iter(item))
    return ""


def _activation_names() -> frozenset[str]:
    from workers import techniques

    return frozenset(techniques.family("activation"))


def _map_layers(layers: list, fn) -> list:
    """fn(item) -> a list of items (none, itself, or others), applied inside residual blocks too."""
    out = []
    for item in layers:
        if _tag(item) == "residual" and isinstance(item, dict):
            inner = item["residual"]
            if isinstance(inner, dict) and "layers" in inner:
                item = {"residual": {**inner, "layers": _map_layers(inner["layers"], fn)}}
            elif isinstance(inner, list):
                item = {"residual": _map_layers(inner, fn)}
        out.extend(fn(item))
    return out


def _swap_activation(layers: list, name: str) -> list:
    names = _activation_names()

    def swap(item):
        if _tag(item) == "activation":
            return [{"activation": name}]
        if isinstance(item, str) and item in names:
            return [name]
        return [item]

    return _map_layers(layers, swap)


def _without(layers: list, techniques: set[str]) -> list:
    return _map_layers(layers, lambda item: [] if _tag(item) in techniques else [item])


def _replace(layers: list, old: str, new: str) -> list:
    return _map_layers(
        layers, lambda item: [{new: item[old]}] if _tag(item) == old and isinstance(item, dict) else [item]
    )


def _unwrap_residual(layers: list) -> list:
    out = []
    for item in layers:
        if _tag(item) == "residual" and isinstance(item, dict):
            inner = item["residual"]
            out.extend(_unwrap_residual(inner["layers"] if isinstance(inner, dict) else inner))
        else:
            out.append(item)
    return out


def _set(config: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value

"""The claims registry: every study of `podium/lab/claim_studies/` loads, quotes the post
exactly, and runs configs the platform accepts on its datasets; the arm edits do what they say."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datasets.catalog import build
from podium.lab.claims import (
    MIN_SEEDS,
    REPO_ROOT,
    ClaimStudyError,
    arm_config,
    claim_get,
    claim_list,
    load_study,
)
from workers.spec import load_config, validate_for_dataset

SEED_POST = REPO_ROOT.parent / "shared" / "seed" / "000_fc0ddf7cad419c20.txt"

# The claims issue 16 lists, each with a study.
ISSUE_CLAIMS = {
    "vanishing-gradients",
    "initialisation",
    "batchnorm",
    "residual-depth",
    "separable-convolutions",
    "dropout",
    "lr-schedules",
    "optimisers",
    "pretraining-lora",
    "sequence-models",
    "cnn-images",
}


def test_every_claim_of_the_issue_has_one_study():
    slugs = [c.slug for c in claim_list()]
    assert set(slugs) == ISSUE_CLAIMS
    assert len(slugs) == len(set(slugs))


def test_studies_have_enough_seeds_arms_and_checks():
    for claim in claim_list():
        assert claim.seeds >= MIN_SEEDS, claim.slug
        assert len(claim.arms) >= 2, claim.slug
        assert claim.checks, claim.slug
        assert claim.plots, claim.slug
        for quote in claim.quotes:
            assert quote.zh.strip() and quote.en.strip()


@pytest.mark.skipif(not SEED_POST.is_file(), reason=f"the seed post is not at {SEED_POST}")
def test_quotes_are_the_posts_own_sentences():
    # The post marks words bold with ** inside sentences; a quote is its text without them.
    post = SEED_POST.read_text(encoding="utf-8").replace("**", "")
    for claim in claim_list():
        for quote in claim.quotes:
            assert quote.zh in post, (claim.slug, quote.zh)


def test_every_arm_is_a_config_the_platform_accepts_on_its_dataset():
    manifests: dict[str, dict] = {}
    for claim in claim_list():
        for slug in claim.datasets:
            manifests.setdefault(slug, build(slug).manifest)
        allowed = (
            {claim.pretrain_dataset: manifests[claim.pretrain_dataset]} if claim.pretrain_dataset else ()
        )
        for arm in claim.model_arms:
            config = load_config(arm_config(claim, arm, seed=2))
            assert config.seed == 2
            problems = validate_for_dataset(config, manifests[claim.dataset], allowed_pretrain=allowed)
            assert problems == [], (claim.slug, arm.key, [p.message for p in problems])


def test_arms_of_a_claim_differ_from_each_other():
    for claim in claim_list():
        configs = [yaml.safe_dump(a.config, sort_keys=True) for a in claim.model_arms]
        assert len(set(configs)) == len(configs), claim.slug


def test_the_transfer_pair_is_the_studys_datasets_line():
    claim = claim_get("pretraining-lora")
    assert claim.pretrain_dataset
    pretrained = [a for a in claim.model_arms if a.config.get("pretrain")]
    assert {a.key for a in pretrained} == {"full", "lora"}
    assert all(a.config["pretrain"]["dataset"] == claim.pretrain_dataset for a in pretrained)
    assert "pretrain" not in claim.arm("scratch").config and "finetune" not in claim.arm("scratch").config
    assert claim.arm("full").config["finetune"] == {"mode": "full"}


def _study(tmp_path: Path, **changes) -> Path:
    raw = {
        "slug": "demo",
        "title": "Demo",
        "quotes": [{"zh": "句子。", "en": "A sentence."}],
        "datasets": {"train": "digits"},
        "seeds": 3,
        "plots": ["loss"],
        "arms": [
            {
                "key": "a",
                "config": {
                    "version": 1,
                    "model": {
                        "layers": [
                            {"linear": {"units": 8}},
                            {"batchnorm": {}},
                            {"activation": "sigmoid"},
                            {"residual": [{"linear": 8}, "sigmoid", {"batchnorm": {}}]},
                            {"separable_conv2d": {"channels": 4, "kernel": 3}},
                            {"linear": {"units": "auto"}},
                        ]
                    },
                    "train": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.01}},
                },
            },
        ],
        "checks": [{"kind": "beats", "arm": "a", "other": "a"}],
    }
    raw.update(changes)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _with_arm(tmp_path, **edits):
    base = yaml.safe_load(_study(tmp_path).read_text(encoding="utf-8"))
    arm = {**base["arms"][0], **edits}
    return load_study(_study(tmp_path, arms=[arm])).arm("a").config


def test_arm_edits(tmp_path):
    layers = _with_arm(tmp_path, activation="relu")["model"]["layers"]
    assert layers[2] == {"activation": "relu"} and layers[3]["residual"][1] == "relu"

    layers = _with_arm(tmp_path, without=["batchnorm"])["model"]["layers"]
    assert [next(iter(x)) for x in layers] == [
        "linear",
        "activation",
        "residual",
        "separable_conv2d",
        "linear",
    ]
    assert layers[2]["residual"] == [{"linear": 8}, "sigmoid"]

    layers = _with_arm(tmp_path, replace={"separable_conv2d": "conv2d"})["model"]["layers"]
    assert layers[4] == {"conv2d": {"channels": 4, "kernel": 3}}

    layers = _with_arm(tmp_path, unwrap_residual=True)["model"]["layers"]
    assert layers[3:6] == [{"linear": 8}, "sigmoid", {"batchnorm": {}}]

    config = _with_arm(
        tmp_path, set={"train.optimizer.lr": 0.5, "train.epochs": None, "model.init": "he_normal"}
    )
    assert config["train"] == {"optimizer": {"name": "adam", "lr": 0.5}}
    assert config["model"]["init"] == "he_normal"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"seeds": 2}, "seeds must be at least 3"),
        ({"checks": [{"kind": "beats", "arm": "a", "other": "zz"}]}, "names arm 'zz'"),
        ({"checks": [{"kind": "wins", "arm": "a"}]}, "unknown check kind 'wins'"),
        ({"checks": [{"kind": "matches", "arm": "a", "other": "a"}]}, "a matches check needs `value`"),
        ({"plots": ["pie"]}, "unknown plot 'pie'"),
        ({"datasets": {}}, "`datasets` needs `train`"),
        ({"arms": [{"key": "a", "config": "examples/none.yaml"}]}, "'examples/none.yaml' is not a file"),
        ({"arms": [{"key": "a", "classical": "xgboost"}]}, "unknown classical model 'xgboost'"),
    ],
)
def test_a_bad_study_is_refused_naming_the_file_and_the_field(tmp_path, changes, message):
    with pytest.raises(ClaimStudyError) as err:
        load_study(_study(tmp_path, **changes))
    assert "demo.yaml" in str(err.value) and message in str(err.value)

"""Sweeps and ensembles in the schema: the variants a config expands into, every refusal by
its path, and the budget their variants share (pure Python: no torch)."""

from __future__ import annotations

import pytest

from common.protocol import MAX_VARIANTS, Budget
from workers import techniques
from workers.spec import (
    ConfigError,
    expand_variants,
    json_schema,
    parse_config,
    validate_for_dataset,
    variant_count,
    variant_epochs,
    variants_kind,
)

IRIS = {"slug": "iris", "task_type": "classification", "classes": ["a", "b", "c"], "input_shape": [4]}

BASE = """\
version: 1
seed: 7
model:
  layers:
    - linear: {units: 8}
    - dropout: 0.1
    - residual:
        - linear: {units: 8}
        - dropout: {p: 0.3}
    - linear: {units: auto}
train:
  epochs: 4
  optimizer: {name: adamw, lr: 0.01, weight_decay: 0.01}
"""


def config(extra: str = "", base: str = BASE):
    return parse_config(base + extra)


def problems(text: str) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [(p.path, p.message) for p in caught.value.problems]


# --- expansion --------------------------------------------------------------------------


def test_a_plain_config_is_one_variant_of_itself():
    plain = config()
    assert variants_kind(plain) is None and variant_count(plain) == 1
    (only,) = expand_variants(plain)
    assert (only.index, only.label, only.overrides) == (0, "", {})
    assert only.config == plain


def test_a_learning_rate_sweep_sets_the_optimizer_and_nothing_else():
    cfg = config("sweep: {grid: {lr: [0.1, 0.001]}}\n")
    variants = expand_variants(cfg)
    assert [v.label for v in variants] == ["lr=0.1", "lr=0.001"]
    assert [v.config.train.optimizer.lr for v in variants] == [0.1, 0.001]
    for v in variants:
        assert v.config.sweep is None
        assert v.config.seed == 7  # the same initialisation and batches: only lr differs
        assert v.config.train.optimizer.name == "adamw" and v.config.train.optimizer.weight_decay == 0.01
        assert v.config.model == cfg.model


def test_a_weight_decay_sweep_sets_the_optimizer():
    variants = expand_variants(config("sweep: {grid: {weight_decay: [0, 0.1]}}\n"))
    assert [v.config.train.optimizer.weight_decay for v in variants] == [0.0, 0.1]
    assert [v.config.train.optimizer.lr for v in variants] == [0.01, 0.01]


def test_a_dropout_sweep_sets_every_dropout_layer_nested_ones_too():
    variants = expand_variants(config("sweep: {grid: {dropout: [0.0, 0.5]}}\n"))
    for v, p in zip(variants, [0.0, 0.5], strict=True):
        layers = v.config.model.layers
        assert layers[1].params.p == p
        assert layers[2].params[1].params.p == p


def test_an_epochs_sweep_sets_train_epochs_and_counts_each():
    cfg = config("sweep: {grid: {epochs: [2, 6]}}\n")
    assert [v.config.train.epochs for v in expand_variants(cfg)] == [2, 6]
    assert variant_epochs(cfg) == [2, 6]


def test_a_grid_is_every_combination_lr_slowest():
    cfg = config("sweep: {grid: {epochs: [2, 3], lr: [0.1, 0.01]}}\n")
    assert variant_count(cfg) == 4
    assert [v.overrides for v in expand_variants(cfg)] == [
        {"lr": 0.1, "epochs": 2},
        {"lr": 0.1, "epochs": 3},
        {"lr": 0.01, "epochs": 2},
        {"lr": 0.01, "epochs": 3},
    ]
    assert variant_epochs(cfg) == [2, 3, 2, 3]


def test_a_list_of_variants_each_sets_some_and_keeps_the_rest():
    cfg = config("sweep:\n  variants: [{lr: 0.1}, {dropout: 0.4, epochs: 9}]\n  select: val_loss\n")
    first, second = expand_variants(cfg)
    assert (first.label, second.label) == ("lr=0.1", "dropout=0.4, epochs=9")
    assert (first.config.train.epochs, second.config.train.epochs) == (4, 9)
    assert (first.config.train.optimizer.lr, second.config.train.optimizer.lr) == (0.1, 0.01)
    assert cfg.sweep.select == "val_loss"
    assert variant_epochs(cfg) == [4, 9]


def test_an_ensemble_is_consecutive_seeds_holding_out_the_same_rows():
    cfg = config("", BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 3}"))
    assert variants_kind(cfg) == "ensemble" and variant_count(cfg) == 3
    variants = expand_variants(cfg)
    assert [v.config.seed for v in variants] == [7, 8, 9]
    assert [v.label for v in variants] == ["seed 7", "seed 8", "seed 9"]
    # The validation split is the entry's seed's for every member.
    assert {v.config.train.validation_seed for v in variants} == {7}
    assert all(v.config.train.ensemble is None for v in variants)
    assert variant_epochs(cfg) == [4, 4, 4]


def test_one_seed_is_a_plain_entry():
    cfg = config("", BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 1}"))
    assert variants_kind(cfg) is None and variant_count(cfg) == 1


def test_the_validation_seed_decides_the_split_and_the_seed_the_rest():
    from workers.training.plan import plan_for

    plain = plan_for(config())
    assert plain.train.split_seed == 7 and plain.seed == 7
    own = plan_for(config("", BASE.replace("  epochs: 4", "  epochs: 4\n  validation_seed: 3")))
    assert own.train.split_seed == 3 and own.seed == 7


def test_the_sweep_bounds_are_every_optimizers_and_the_dropout_layers():
    from workers.spec import DropoutRate, LearningRate, WeightDecay

    for name, t in techniques.family("optimizer").items():
        assert t.params.model_fields["lr"].metadata == list(LearningRate.__metadata__), name
        assert t.params.model_fields["weight_decay"].metadata == list(WeightDecay.__metadata__), name
    dropout = techniques.get("layer", "dropout").params
    assert dropout.model_fields["p"].metadata == list(DropoutRate.__metadata__)


def test_the_json_schema_documents_sweeps_and_ensembles():
    schema = json_schema()
    assert "sweep" in schema["properties"]
    defs = schema["$defs"]
    assert set(defs["SweepGrid"]["properties"]) == {"lr", "weight_decay", "dropout", "epochs"}
    assert defs["EnsembleSpec"]["properties"]["seeds"]["minimum"] == 1
    assert defs["EnsembleSpec"]["properties"]["seeds"]["maximum"] == MAX_VARIANTS


# --- refusals, each by its path ----------------------------------------------------------


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("sweep: {grid: {lr: []}}", ("sweep.grid.lr", "must have at least 1 item")),
        ("sweep: {variants: []}", ("sweep.variants", "must have at least 1 item")),
        ("sweep: {grid: {lr: [0.1, -1]}}", ("sweep.grid.lr[1]", "must be > 0.0")),
        ("sweep: {grid: {dropout: [0.99]}}", ("sweep.grid.dropout[0]", "must be <= 0.95")),
        ("sweep: {grid: {epochs: [0]}}", ("sweep.grid.epochs[0]", "must be >= 1")),
        ("sweep: {grid: {epochs: [2.5]}}", ("sweep.grid.epochs[0]", "must be an integer")),
        (
            "sweep: {grid: {lrr: [0.1]}}",
            (
                "sweep.grid.lrr",
                "unknown hyper-parameter (did you mean 'lr'?); a sweep varies lr, weight_decay, dropout, epochs",
            ),
        ),
        (
            "sweep: {grid: {batch_size: [16, 32]}}",
            (
                "sweep.grid.batch_size",
                "is not sweepable: a sweep varies lr, weight_decay, dropout, epochs (its variants keep the "
                "entry's architecture, batches and seed)",
            ),
        ),
        (
            "sweep: {variants: [{units: 16}]}",
            ("sweep.variants[0].units", "is not sweepable: a sweep varies lr, weight_decay, dropout, epochs"),
        ),
        (
            "sweep: {grid: {seed: [1, 2]}}",
            ("sweep.grid.seed", "is not sweepable: to train several seeds, use train.ensemble: {seeds: N}"),
        ),
        ("sweep: {}", ("sweep", "needs exactly one of grid (every combination) or variants (a list)")),
        (
            "sweep: {grid: {lr: [0.1]}, variants: [{lr: 0.2}]}",
            ("sweep", "needs exactly one of grid (every combination) or variants (a list)"),
        ),
        ("sweep: {grid: {}}", ("sweep.grid", "names no hyper-parameter; sweep one or more of")),
        ("sweep: {variants: [{}]}", ("sweep.variants[0]", "sets no hyper-parameter; set one or more of")),
        ("sweep: {grid: {lr: [0.1]}, select: test}", ("sweep.select", "must be 'metric' or 'val_loss'")),
        (
            "sweep: {grid: {lr: [0.1, 0.2, 0.1]}}",
            ("sweep.grid.lr[2]", "repeats 0.1 (sweep.grid.lr[0]): each value once"),
        ),
        (
            "sweep: {variants: [{lr: 0.1}, {lr: 0.2}, {lr: 0.1}]}",
            ("sweep.variants[2]", "is the same as variants[0]: each variant once"),
        ),
    ],
    ids=[
        "empty-grid-list",
        "empty-variant-list",
        "negative-lr",
        "dropout-too-high",
        "zero-epochs",
        "fractional-epochs",
        "unknown-name",
        "not-sweepable",
        "not-sweepable-in-a-list",
        "seed",
        "no-form",
        "both-forms",
        "empty-grid",
        "empty-point",
        "select-the-test-set",
        "repeated-value",
        "repeated-variant",
    ],
)
def test_a_sweep_that_cannot_train_is_refused_by_path(extra, expected):
    path, message = expected
    found = problems(BASE + extra + "\n")
    assert any(p == path and m.startswith(message) for p, m in found), found


def test_seeds_below_one_are_refused():
    found = problems(BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 0}"))
    assert ("train.ensemble.seeds", "must be >= 1") in found
    found = problems(BASE.replace("  epochs: 4", f"  epochs: 4\n  ensemble: {{seeds: {MAX_VARIANTS + 1}}}"))
    assert ("train.ensemble.seeds", f"must be <= {MAX_VARIANTS}") in found


def test_a_dropout_sweep_needs_a_dropout_layer():
    plain = BASE.replace("    - dropout: 0.1\n", "").replace("        - dropout: {p: 0.3}\n", "")
    found = problems(plain + "sweep: {variants: [{lr: 0.1}, {dropout: 0.2}]}\n")
    assert found == [
        (
            "sweep.variants[1].dropout",
            "the model has no dropout layer to set; add one, e.g. dropout: {p: 0.2}",
        )
    ]


def test_a_sweep_chooses_on_validation_rows_so_it_needs_some():
    found = problems(
        BASE.replace("  epochs: 4", "  epochs: 4\n  validation_fraction: 0")
        + "sweep: {grid: {lr: [0.1, 0.2]}}\n"
    )
    assert (
        "sweep",
        "chooses its variant on the validation rows: needs train.validation_fraction > 0",
    ) in found


def test_a_sweep_and_an_ensemble_do_not_combine():
    found = problems(
        BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 2}")
        + "sweep: {grid: {lr: [0.1, 0.2]}}\n"
    )
    assert [p for p, _ in found] == ["sweep"]
    assert found[0][1].startswith("cannot be combined with train.ensemble")


def test_a_grid_larger_than_the_schema_allows_is_refused():
    lrs = ", ".join(str(0.001 * (i + 1)) for i in range(8))
    found = problems(BASE + f"sweep: {{grid: {{lr: [{lrs}], dropout: [0.1, 0.2, 0.3, 0.4, 0.5]}}}}\n")
    assert ("sweep.grid", f"makes 40 variants (8 × 5); a sweep has at most {MAX_VARIANTS}") in found


def test_swept_epochs_must_outlast_the_warm_up():
    text = BASE.replace("  epochs: 4", "  epochs: 4\n  scheduler: {name: warmup_cosine, warmup_epochs: 2}")
    found = problems(text + "sweep: {grid: {epochs: [2, 5]}}\n")
    assert found == [("sweep.grid.epochs[0]", "must be more than the 2-epoch warm-up of train.scheduler")]


# --- the budget the variants share ----------------------------------------------------------


def budget_problems(cfg, **budget) -> list[tuple[str | None, str]]:
    return [(p.path, p.message) for p in validate_for_dataset(cfg, IRIS, budget=Budget(**budget))]


def test_a_competition_of_single_models_refuses_any_sweep_or_ensemble():
    sweep = config("sweep: {grid: {lr: [0.1, 0.2]}}\n")
    assert budget_problems(sweep, variants=1) == [
        ("sweep", "this competition trains one model per entry: no sweeps or ensembles")
    ]
    ensemble = config("", BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 2}"))
    assert budget_problems(ensemble, variants=1) == [
        ("train.ensemble.seeds", "this competition trains one model per entry: no sweeps or ensembles")
    ]


def test_more_variants_than_the_competition_allows_are_refused():
    sweep = config("sweep: {grid: {lr: [0.1, 0.2, 0.3]}}\n")
    assert budget_problems(sweep, variants=3) == []
    assert budget_problems(sweep, variants=2) == [
        ("sweep", "3 variants; this competition allows at most 2 per entry")
    ]


def test_the_epochs_budget_counts_every_variant():
    sweep = config("sweep: {grid: {epochs: [3, 6]}}\n")  # 9 epochs in all
    assert budget_problems(sweep, epochs=9, variants=2) == []
    assert budget_problems(sweep, epochs=8, variants=2) == [
        (
            "sweep",
            "the 2 variants train 9 epochs in all (3 + 6); the competition's budget is 8 epochs per "
            "entry, all variants together",
        )
    ]
    ensemble = config("", BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 3}"))
    assert budget_problems(ensemble, epochs=11, variants=3) == [
        (
            "train.ensemble.seeds",
            "the 3 variants train 12 epochs in all (3 × 4); the competition's budget is 11 epochs per "
            "entry, all variants together",
        )
    ]


def test_the_epochs_budget_counts_each_variants_pre_training():
    text = (
        BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 2}")
        + "pretrain: {dataset: iris, epochs: 5}\n"
    )
    found = [
        (p.path, p.message)
        for p in validate_for_dataset(
            parse_config(text), IRIS, budget=Budget(epochs=9, variants=2), allowed_pretrain=["iris"]
        )
    ]
    assert found == [
        (
            "pretrain.epochs",
            "each of the 2 variants pre-trains 5 epochs, 10 in all; the competition's budget is 9 epochs "
            "per entry, all variants together",
        )
    ]


def test_an_ensembles_parameters_are_its_seeds_together():
    from workers.spec import count_parameters

    ensemble = config("", BASE.replace("  epochs: 4", "  epochs: 4\n  ensemble: {seeds: 3}"))
    each = count_parameters(ensemble, [4], 3)
    assert budget_problems(ensemble, params=3 * each, variants=3) == []
    assert budget_problems(ensemble, params=3 * each - 1, variants=3) == [
        (
            "train.ensemble.seeds",
            f"3 seeds of a {each:,}-parameter model are {3 * each:,} parameters, more than the budget "
            f"of {3 * each - 1:,}",
        )
    ]
    # A sweep predicts with one model: each variant alone is weighed.
    sweep = config("sweep: {grid: {lr: [0.1, 0.2, 0.3]}}\n")
    assert budget_problems(sweep, params=each, variants=3) == []

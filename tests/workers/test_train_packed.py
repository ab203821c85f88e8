"""Packed training (workers.training.packed): a member of a pack gets what its solo run
gets, within floating-point reordering; the same pack again is bit-identical; a member
that diverges, is cancelled, raises or runs out of budget leaves alone; signatures group
what can share a step.

CPU, one thread, 400 rows of digits and a few epochs. The tolerance of the contract
(docs/techniques.md, "Packed training"): test probabilities within PROBA_TOLERANCE of the
solo run's, the same class on every row, for these networks (no bias feeding a BatchNorm
under Adam: that bias has no gradient but rounding noise, which Adam scales to full steps).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.protocol import Budget
from workers import local
from workers.build import build_model
from workers.data import TrainData, load_dataset
from workers.spec import load_config, parse_config
from workers.techniques import optimizers as opt
from workers.techniques import schedulers as sched
from workers.techniques._modules import Dropout
from workers.training import (
    BUDGET_EPOCHS,
    BUDGET_PARAMETERS,
    BUDGET_SECONDS,
    CANCELLED,
    COMPLETED,
    DIVERGED,
    EARLY_STOPPING,
    BudgetExceeded,
    TrainError,
    train,
)
from workers.training.packed import Pack, PackMember, train_packed
from workers.training.signature import PACKABLE_LAYERS, pack_signature, unpackable_reason
from workers.training.stack import StackedModel
from workers.training.stacked_optim import Schedule, StackedOptimizer, kind_of
from workers.training.step_graphs import EAGER, StepGraphs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROBA_TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small():
    digits = load_dataset("digits")
    return TrainData(
        X_train=digits.X_train[:400],
        y_train=digits.y_train[:400],
        X_test=digits.X_test[:100],
        test_ids=digits.test_ids[:100],
        manifest=digits.manifest,
        slug="digits",
    )


def mlp(seed=0, *, epochs=3, width=32, p=0.2, batch_size=32, **train):
    train.setdefault("optimizer", {"name": "adam", "lr": 0.01})
    return load_config(
        {
            "version": 1,
            "seed": seed,
            "model": {
                "init": "he_normal",
                "layers": [{"linear": width}, "relu", {"dropout": p}, {"linear": "auto"}],
            },
            "train": {"epochs": epochs, "batch_size": batch_size, **train},
        }
    )


def example(name: str, epochs: int, seed: int = 0, **train_updates):
    config = local.with_epochs(parse_config((EXAMPLES / name).read_text(encoding="utf-8")), epochs)
    data = config.model_dump(mode="json")
    data["seed"] = seed
    data["train"].update(train_updates)
    return load_config(data)


def assert_matches_solo(packed, solo):
    assert not isinstance(packed, BaseException), packed
    assert packed.stopped_reason == solo.stopped_reason
    assert packed.stop_message == solo.stop_message
    assert packed.epochs_run == solo.epochs_run
    assert packed.best_epoch == solo.best_epoch
    assert [h["epoch"] for h in packed.history] == [h["epoch"] for h in solo.history]
    for a, b in zip(packed.history, solo.history, strict=True):
        assert a["lr"] == b["lr"]
        assert a.get("partial") == b.get("partial")
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
        assert a["grad_norms"].keys() == b["grad_norms"].keys()
        for layer, norm in b["grad_norms"].items():
            assert a["grad_norms"][layer] == pytest.approx(norm, rel=1e-3)
    if solo.probabilities is None:
        assert packed.probabilities is None
        return
    assert np.abs(packed.probabilities - solo.probabilities).max() <= PROBA_TOLERANCE
    assert (packed.predictions == solo.predictions).all()
    assert packed.val_metric == pytest.approx(solo.val_metric)
    assert packed.state_dict.keys() == solo.state_dict.keys()


def test_a_pack_of_mlps_matches_each_member_alone(small):
    """Different seeds (so splits and batch orders), learning rates, optimisers, schedules,
    epochs, dropout and clipping in one pack."""
    configs = [
        mlp(0),
        mlp(1, optimizer={"name": "sgd", "lr": 0.05, "weight_decay": 0.01}, epochs=2),
        mlp(2, optimizer={"name": "momentum", "lr": 0.02, "grad_clip": 0.5}, scheduler={"name": "cosine"}),
        mlp(0, p=0.0, optimizer={"name": "rmsprop", "lr": 0.003}, epochs=4),
        mlp(3, p=0.5, optimizer={"name": "adamw", "lr": 0.005}, scheduler={"name": "one_cycle"}),
        mlp(4, optimizer={"name": "nesterov", "lr": 0.01}, scheduler={"name": "step", "step_epochs": 1}),
    ]
    solo = [train(c, small) for c in configs]
    packed = train_packed([PackMember(c, Budget()) for c in configs], small)
    for p, s in zip(packed, solo, strict=True):
        assert_matches_solo(p, s)
    assert [r.epochs_run for r in packed] == [3, 2, 3, 4, 3, 3]


def test_members_with_different_losses_match_each_alone(small):
    """The pack's losses in one call when its members share one, one call per member when not
    (label smoothing differs, class weights that depend on each member's split)."""
    configs = [
        mlp(0),
        mlp(1, loss={"name": "cross_entropy", "label_smoothing": 0.1}),
        mlp(2, loss={"name": "cross_entropy", "class_weights": "balanced"}),
    ]
    for pack in (configs, configs[1:2] + [mlp(3, loss={"name": "cross_entropy", "label_smoothing": 0.1})]):
        packed = train_packed([PackMember(c) for c in pack], small)
        for p, c in zip(packed, pack, strict=True):
            assert_matches_solo(p, train(c, small))


def test_digits_cnn_packed_matches_solo_and_reruns_bit_identical(small):
    configs = [
        example("digits_cnn.yaml", 2),
        example("digits_cnn.yaml", 2, seed=1, optimizer={"name": "adam", "lr": 0.001}),
        example("digits_cnn.yaml", 1, seed=2),
    ]
    solo = [train(c, small) for c in configs]
    first = train_packed([PackMember(c, Budget()) for c in configs], small, always_pack=True)
    again = train_packed([PackMember(c, Budget()) for c in configs], small, always_pack=True)
    for p, s in zip(first, solo, strict=True):
        assert_matches_solo(p, s)
    for a, b in zip(first, again, strict=True):
        assert a.probabilities.tobytes() == b.probabilities.tobytes()
        assert a.history == [{**h, "seconds": a.history[i]["seconds"]} for i, h in enumerate(b.history)]
        for key in a.state_dict:
            assert torch.equal(a.state_dict[key], b.state_dict[key]), key


def test_a_members_result_does_not_depend_on_its_pack_mates(small):
    member = mlp(7, epochs=2)
    with_two = train_packed([PackMember(member), PackMember(mlp(8, epochs=2))], small)[0]
    mates = [mlp(9, epochs=3), member, mlp(10), mlp(11, epochs=1)]
    with_four = train_packed([PackMember(c) for c in mates], small)[1]
    assert np.abs(with_two.probabilities - with_four.probabilities).max() <= PROBA_TOLERANCE
    assert (with_two.predictions == with_four.predictions).all()


def _joining_pack(small, first, later, *, at_epoch, **kwargs):
    """A pack of `first` that takes `later` in at the boundary after its epoch `at_epoch`;
    returns the results in member order and the order in which they were heard."""
    epochs_seen = []
    heard = []
    offered = []

    def newcomers(closing):
        if len(epochs_seen) >= at_epoch and not offered:
            offered.extend(later)
            return [(spec, None) for spec in later]
        return []

    def count(record):
        epochs_seen.append(record["epoch"])

    members = [PackMember(first[0].config, first[0].budget, count, first[0].should_stop), *first[1:]]
    pack = Pack(
        members,
        small,
        device=torch.device("cpu"),
        newcomers=newcomers,
        on_result=lambda position, result: heard.append(position),
        **kwargs,
    )
    return pack.run([None] * len(members)), heard


def test_members_that_join_a_running_pack_train_as_from_its_start(small):
    """Newcomers taken in at an epoch boundary (another optimiser kind among them, so the
    stack is regrouped, and a seed of a split the pack did not have) get what they get in a
    pack from the start, bit for bit, and what their solo runs give within the tolerance;
    the members already training are not disturbed."""
    first = [
        mlp(0, epochs=4, optimizer={"name": "momentum", "lr": 0.02}),
        mlp(1, epochs=3, scheduler={"name": "cosine"}),
    ]
    later = [
        mlp(2, epochs=3, optimizer={"name": "adamw", "lr": 0.005}, scheduler={"name": "one_cycle"}),
        mlp(1, epochs=2, optimizer={"name": "momentum", "lr": 0.01, "grad_clip": 0.5}),
        mlp(0, epochs=2, optimizer={"name": "sgd", "lr": 0.05}),
    ]
    results, heard = _joining_pack(
        small, [PackMember(c) for c in first], [PackMember(c) for c in later], at_epoch=2
    )
    together = train_packed([PackMember(c) for c in first + later], small)
    for joined, from_start in zip(results, together, strict=True):
        assert joined.probabilities.tobytes() == from_start.probabilities.tobytes()
        assert [h["train_loss"] for h in joined.history] == [h["train_loss"] for h in from_start.history]
        assert [h["lr"] for h in joined.history] == [h["lr"] for h in from_start.history]
        for key in joined.state_dict:
            assert torch.equal(joined.state_dict[key], from_start.state_dict[key]), key
    for result, config in zip(results, first + later, strict=True):
        assert_matches_solo(result, train(config, small))
    assert sorted(heard) == [0, 1, 2, 3, 4]
    assert heard.index(1) < heard.index(0)  # each result heard when its member left, not at the end


def test_a_pack_whose_members_all_left_takes_newcomers_before_it_ends(small):
    first = [PackMember(mlp(0, epochs=1))]
    later = [PackMember(mlp(1, epochs=2)), PackMember(mlp(2, epochs=1))]
    results, heard = _joining_pack(small, first, later, at_epoch=1)
    assert [r.epochs_run for r in results] == [1, 2, 1]
    for result, spec in zip(results, first + later, strict=True):
        assert_matches_solo(result, train(spec.config, small))
    assert heard == [0, 2, 1]


def test_a_newcomer_refused_or_cancelled_leaves_and_the_pack_goes_on(small):
    refused = PackMember(mlp(1, epochs=2), metric="rmse")
    cancelled = PackMember(mlp(2, epochs=3), should_stop=lambda: True)
    results, _ = _joining_pack(small, [PackMember(mlp(0, epochs=3))], [refused, cancelled], at_epoch=1)
    assert results[0].stopped_reason == COMPLETED
    assert_matches_solo(results[0], train(mlp(0, epochs=3), small))
    assert isinstance(results[1], TrainError) and "is for regression" in str(results[1])
    assert results[2].stopped_reason == CANCELLED and results[2].epochs_run <= 1


def test_a_diverging_member_fails_alone_with_the_solo_reason(small):
    exploding = mlp(1, optimizer={"name": "sgd", "lr": 10.0}, p=0.0)
    configs = [mlp(0), exploding, mlp(2)]
    with pytest.raises(TrainError) as solo_error:
        train(exploding, small)
    packed = train_packed([PackMember(c) for c in configs], small)
    assert isinstance(packed[1], TrainError)
    assert str(packed[1]) == str(solo_error.value)
    assert "diverged" in str(packed[1])
    assert_matches_solo(packed[0], train(configs[0], small))
    assert_matches_solo(packed[2], train(configs[2], small))


def test_a_member_diverging_after_a_kept_epoch_predicts_from_it_as_alone(small):
    warming_too_far = mlp(
        0,
        epochs=6,
        p=0.0,
        optimizer={"name": "sgd", "lr": 3.0},
        scheduler={"name": "warmup_cosine", "warmup_epochs": 3},
        early_stopping={"patience": 3},
    )
    configs = [warming_too_far, mlp(1, epochs=4)]
    packed = train_packed([PackMember(c) for c in configs], small)
    assert packed[0].stopped_reason == DIVERGED
    for p, c in zip(packed, configs, strict=True):
        assert_matches_solo(p, train(c, small))


def test_a_cancelled_member_leaves_at_once_and_the_others_complete(small):
    seen = []

    def cancel_after_first_epoch():
        return len(seen) >= 1

    configs = [mlp(0, epochs=3), mlp(1, epochs=3), mlp(2, epochs=3)]
    members = [PackMember(c) for c in configs]
    members[1] = PackMember(configs[1], on_epoch=seen.append, should_stop=cancel_after_first_epoch)
    packed = train_packed(members, small)
    assert packed[1].stopped_reason == CANCELLED
    assert packed[1].epochs_run == 1 and packed[1].probabilities is None
    assert len(seen) == 1
    seen.clear()
    solo = train(configs[1], small, on_epoch=seen.append, should_stop=cancel_after_first_epoch)
    assert (solo.stopped_reason, solo.epochs_run) == (CANCELLED, 1)
    for i in (0, 2):
        assert packed[i].stopped_reason == COMPLETED
        assert_matches_solo(packed[i], train(configs[i], small))


def test_a_member_whose_callback_raises_fails_alone(small):
    class Broken(RuntimeError):
        pass

    def on_epoch(record):
        if record["epoch"] == 2:
            raise Broken("the epoch callback failed")

    configs = [mlp(0), mlp(1)]
    packed = train_packed([PackMember(configs[0], on_epoch=on_epoch), PackMember(configs[1])], small)
    assert isinstance(packed[0], Broken)
    assert_matches_solo(packed[1], train(configs[1], small))


def test_a_member_refused_before_training_fails_alone(small):
    configs = [mlp(0, epochs=1), mlp(1, epochs=1), mlp(2, epochs=1)]
    members = [PackMember(configs[0], metric="rmse"), PackMember(configs[1]), PackMember(configs[2])]
    packed = train_packed(members, small)
    assert isinstance(packed[0], TrainError)
    assert "metric 'rmse' is for regression" in str(packed[0])
    assert_matches_solo(packed[1], train(configs[1], small))
    assert_matches_solo(packed[2], train(configs[2], small))


def test_budgets_stop_each_member_as_they_stop_it_alone(small):
    configs = [mlp(0, epochs=4), mlp(1, epochs=3), mlp(2, epochs=3), mlp(3, width=64)]
    budgets = [Budget(epochs=2), Budget(), Budget(seconds=1e-6), Budget(params=100)]
    packed = train_packed([PackMember(c, b) for c, b in zip(configs, budgets, strict=True)], small)
    solo = []
    for c, b in zip(configs, budgets, strict=True):
        try:
            solo.append(train(c, small, budget=b))
        except BudgetExceeded as exc:
            solo.append(exc)
    assert packed[0].stopped_reason == BUDGET_EPOCHS
    assert_matches_solo(packed[0], solo[0])
    assert_matches_solo(packed[1], solo[1])
    # The clock ran out after the first batch: a partial first epoch, then predictions.
    assert packed[2].stopped_reason == BUDGET_SECONDS and packed[2].history[0]["partial"]
    assert packed[2].epochs_run == solo[2].epochs_run == 1
    assert packed[2].predictions is not None
    assert isinstance(packed[3], BudgetExceeded) and packed[3].reason == BUDGET_PARAMETERS
    assert str(packed[3]) == str(solo[3])


def test_early_stopping_per_member_keeps_its_best_epoch(small):
    configs = [
        mlp(0, epochs=6, optimizer={"name": "sgd", "lr": 0.5}, early_stopping={"patience": 1}),
        mlp(1, epochs=6, early_stopping={"patience": 2, "monitor": "metric"}),
        mlp(2, epochs=2),
    ]
    packed = train_packed([PackMember(c) for c in configs], small)
    for p, c in zip(packed, configs, strict=True):
        assert_matches_solo(p, train(c, small))
    assert EARLY_STOPPING in {p.stopped_reason for p in packed}


def test_regression_members_match_solo():
    diabetes = load_dataset("diabetes")
    configs = [
        load_config(
            {
                "version": 1,
                "seed": seed,
                "model": {"layers": [{"linear": 16}, "relu", {"linear": "auto"}]},
                "train": {
                    "epochs": 3,
                    "batch_size": 32,
                    "optimizer": {"name": "adam", "lr": lr},
                    "loss": loss,
                },
            }
        )
        for seed, lr, loss in ((0, 0.01, None), (1, 0.003, {"name": "huber"}), (2, 0.01, {"name": "mae"}))
    ]
    packed = train_packed([PackMember(c) for c in configs], diabetes)
    for p, c in zip(packed, configs, strict=True):
        solo = train(c, diabetes)
        assert p.stopped_reason == solo.stopped_reason
        assert np.allclose(p.predictions, solo.predictions, rtol=1e-5, atol=1e-4)


def test_text_members_match_solo():
    """Token input: the padding mask travels through the stacked layers."""
    text = load_dataset("sentiment-structure")
    few = TrainData(
        X_train=text.X_train[:300],
        y_train=text.y_train[:300],
        X_test=text.X_test[:100],
        test_ids=text.test_ids[:100],
        manifest=text.manifest,
        slug=text.slug,
    )
    layers = [{"embedding": {"dim": 16}}, {"conv1d": {"channels": 16}}, "relu", {"attention_pool": {}}]
    configs = [
        load_config(
            {
                "version": 1,
                "seed": seed,
                "model": {"layers": [*layers, {"dropout": 0.2}, {"linear": "auto"}]},
                "train": {"epochs": 2, "optimizer": {"name": "adam", "lr": lr}},
            }
        )
        for seed, lr in ((0, 0.003), (1, 0.01))
    ]
    packed = train_packed([PackMember(c) for c in configs], few, always_pack=True)
    for p, c in zip(packed, configs, strict=True):
        assert_matches_solo(p, train(c, few))


def test_convolutional_members_train_alone_on_a_cpu_unless_packing_is_forced(small, monkeypatch):
    from workers.training import packed as packed_module

    packs = []
    monkeypatch.setattr(packed_module.Pack, "run", _counting(packed_module.Pack.run, packs))
    configs = [example("digits_cnn.yaml", 1), example("digits_cnn.yaml", 1, seed=1)]
    results = train_packed([PackMember(c) for c in configs], small)
    assert packs == []
    assert results[1].probabilities.tobytes() == train(configs[1], small).probabilities.tobytes()
    train_packed([PackMember(mlp(0, epochs=1)), PackMember(mlp(1, epochs=1))], small)
    assert packs == [2]


def _counting(run, packs):
    def counted(self, out_dirs):
        packs.append(len(out_dirs))
        return run(self, out_dirs)

    return counted


def test_weights_are_written_per_member(small, tmp_path):
    configs = [mlp(0, epochs=1), mlp(1, epochs=1)]
    packed = train_packed([PackMember(c) for c in configs], small, weights_dir=tmp_path)
    assert [r.weights_path for r in packed] == [tmp_path / str(i) / "weights.safetensors" for i in range(2)]
    assert all(r.weights_path.is_file() for r in packed)


def test_members_that_cannot_pack_train_alone_exactly_as_train_does(small):
    waves = load_dataset("waveforms")
    lstm = load_config(
        {
            "version": 1,
            "model": {"layers": [{"lstm": {"hidden": 8}}, {"linear": "auto"}]},
            "train": {"epochs": 1},
        }
    )
    packed = train_packed([PackMember(lstm), PackMember(lstm.model_copy(update={"seed": 1}))], waves)
    solo = train(lstm, waves)
    assert packed[0].probabilities.tobytes() == solo.probabilities.tobytes()
    # A lone member of its signature trains alone too: bit for bit its solo run.
    lone = train_packed([PackMember(mlp(0, epochs=1)), PackMember(mlp(0, epochs=1, width=16))], small)
    assert lone[1].probabilities.tobytes() == train(mlp(0, epochs=1, width=16), small).probabilities.tobytes()


# ---------------------------------------------------------------------- signatures


def test_signatures_ignore_hyper_parameters_and_see_the_architecture(small):
    base = pack_signature(mlp(0), small)
    assert base is not None and len(base) == 64
    same = [
        mlp(5),
        mlp(0, epochs=9),
        mlp(0, p=0.5),
        mlp(0, optimizer={"name": "sgd", "lr": 0.3, "weight_decay": 0.1, "grad_clip": 1.0}),
        mlp(0, scheduler={"name": "cosine"}),
        mlp(0, early_stopping={"patience": 2}),
        mlp(0, loss={"name": "cross_entropy", "label_smoothing": 0.1}),
        load_config(
            {
                **mlp(0).model_dump(mode="json"),
                "model": {**mlp(0).model.model_dump(mode="json"), "init": "xavier_uniform"},
            }
        ),
    ]
    for config in same:
        assert pack_signature(config, small) == base
    different = [
        mlp(0, width=64),
        mlp(0, batch_size=16),
        mlp(0, validation_fraction=0.2),
        mlp(0, precision="bf16"),
        load_config(
            {
                **mlp(0).model_dump(mode="json"),
                "model": {"layers": [{"linear": 32}, "tanh", {"dropout": 0.2}, {"linear": "auto"}]},
            }
        ),
    ]
    for config in different:
        assert pack_signature(config, small) != base
    other_rows = TrainData(
        X_train=small.X_train[:300],
        y_train=small.y_train[:300],
        X_test=small.X_test,
        test_ids=small.test_ids,
        manifest=small.manifest,
    )
    assert pack_signature(mlp(0), other_rows) != base


@pytest.mark.parametrize(
    ("layers", "extra", "reason"),
    [
        ([{"lstm": {"hidden": 4}}, {"linear": "auto"}], {}, "LSTM"),
        ([{"gru": {"hidden": 4}}, {"linear": "auto"}], {}, "GRU"),
        ([{"transformer_encoder": {"d_model": 8, "heads": 2}}, {"linear": "auto"}], {}, "attention"),
        ([{"linear": "auto"}], {"pretrain": {"dataset": "digits"}}, "pre-trains"),
        ([{"linear": "auto"}], {"finetune": {"mode": "head", "from_submission": 1}}, "fine-tunes"),
    ],
)
def test_what_cannot_be_packed_has_no_signature_and_a_reason(small, layers, extra, reason):
    config = load_config({"version": 1, "model": {"layers": layers}, **extra})
    assert reason in unpackable_reason(config)
    assert pack_signature(config, small) is None


def test_training_augmentation_is_not_packed_but_test_time_flips_are(small):
    flip = {"layers": [{"conv2d": {"channels": 4}}, {"linear": "auto"}]}
    augmented = load_config({"version": 1, "model": flip, "train": {"augment": {"flip": {}}}})
    tta_only = load_config({"version": 1, "model": flip, "train": {"augment": {"tta": "flip"}}})
    assert "augmentation" in unpackable_reason(augmented)
    assert pack_signature(tta_only, small) is not None


# ---------------------------------------------------------------------- what vmaps

TOKENS = {"kind": "tokens", "vocab_size": 30, "max_length": 10, "pad_id": 0}
CATEGORIES = {"kind": "tabular", "categorical": {"c": {"index": 2, "categories": ["x", "y", "z"]}}}
VMAP_CASES = [
    ("[linear: 8, relu, dropout: 0.3, batchnorm, layernorm, linear: auto]", (6,), None),
    (
        "[conv2d: {channels: 4}, batchnorm, relu, max_pool: 2, dropout: 0.2, flatten, linear: auto]",
        (1, 8, 8),
        None,
    ),
    (
        "[separable_conv2d: {channels: 4, stride: 2}, layernorm, avg_pool2d: 2, max_pool2d: 1, global_max_pool, linear: auto]",
        (2, 8, 8),
        None,
    ),
    (
        "[conv1d: {channels: 4}, avg_pool1d: 2, max_pool1d: 1, avg_pool: 1, attention_pool: {}, linear: auto]",
        (3, 12),
        None,
    ),
    (
        "[conv2d: {channels: 4}, residual: [conv2d: {channels: 4}, batchnorm, relu, conv2d: {channels: 8, stride: 2}], global_avg_pool, linear: auto]",
        (1, 8, 8),
        None,
    ),
    ("[embedding: 8, conv1d: {channels: 4}, global_avg_pool, linear: auto]", (10,), TOKENS),
    ("[embedding: {dim: 3}, relu, linear: auto]", (5,), CATEGORIES),
]


def test_every_packable_layer_has_a_vmap_case():
    from workers.spec import iter_layers

    used = set()
    for layers, *_ in VMAP_CASES:
        config = load_config({"version": 1, "model": {"layers": __import__("yaml").safe_load(layers)}})
        used.update(item.technique for _, _, item in iter_layers(config.model.layers))
    assert used == set(PACKABLE_LAYERS)


@pytest.mark.parametrize(("layers", "shape", "inputs"), VMAP_CASES)
def test_stacked_forward_and_gradients_match_each_network_alone(layers, shape, inputs):
    import yaml

    models = [
        build_model(
            load_config({"version": 1, "seed": seed, "model": {"layers": yaml.safe_load(layers)}}),
            shape,
            3,
            inputs=inputs,
        )
        for seed in range(3)
    ]
    x = torch.randint(0, 3, (3, 6, *shape)).float() if inputs else torch.randn(3, 6, *shape)
    stack = StackedModel(models, x[0, :2])
    gens = [torch.Generator().manual_seed(seed) for seed in range(3)]
    masks = []
    for site in stack.sites:
        if site.draws:
            mask = torch.ones(3, 6, *site.shape)
            for i, p in enumerate(site.ps):
                mask[i].bernoulli_(1 - p, generator=gens[i]).div_(1 - p)
            masks.append(mask)
    out = stack.forward(x, masks)
    out.square().sum().backward()
    stack.zero_padding_grads()
    for i, model in enumerate(models):
        model.train()
        torch.manual_seed(i)  # the solo run's dropout draws from the default generator
        alone = model(x[i])
        assert torch.allclose(out[i], alone, atol=1e-5), layers
        alone.square().sum().backward()
        for name, p in model.named_parameters():
            assert torch.allclose(stack.params[name].grad[i], p.grad, atol=1e-4, rtol=1e-4), name


def test_the_dropout_layer_draws_what_torch_draws_on_the_cpu():
    x = torch.randn(16, 40)
    torch.manual_seed(3)
    expected = F.dropout(x, 0.3, training=True)
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.3).train()(x), expected)
    assert torch.equal(Dropout(0.3).eval()(x), x)


# ---------------------------------------------------------------------- the optimisers

SETTINGS = [
    opt.SGD(lr=0.1, weight_decay=0.01),
    opt.Momentum(lr=0.05),
    opt.Momentum(lr=0.02, momentum=0.5, weight_decay=0.1),
    opt.Nesterov(lr=0.03),
    opt.RMSprop(lr=0.01),
    opt.RMSprop(lr=0.01, momentum=0.9, weight_decay=0.001),
    opt.Adam(lr=0.003),
    opt.Adam(lr=0.01, weight_decay=0.01, betas=(0.8, 0.99)),
    opt.AdamW(lr=0.002),
    opt.AdamW(lr=0.002, weight_decay=0.0),
]
SCHEDULES = [
    sched.Cosine(warmup_epochs=1),
    sched.Constant(),
    sched.Step(step_epochs=1, gamma=0.5),
    sched.OneCycle(),
    sched.WarmupCosine(),
    sched.Constant(),
    sched.Cosine(),
    sched.Exponential(),
    sched.Constant(),
    sched.Cosine(min_lr_ratio=0.1),
]


def test_the_stacked_optimiser_steps_as_torch_optim_steps_each_member():
    from workers.build import build_optimizer, build_scheduler

    order = sorted(range(len(SETTINGS)), key=lambda i: (kind_of(SETTINGS[i]), i))
    settings = [SETTINGS[i] for i in order]
    schedules = [SCHEDULES[i] for i in order]
    n, spe, epochs = len(settings), 3, 3
    shapes = [(5, 4), (5,), (2, 3, 3, 3)]
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(n, *s, generator=gen) for s in shapes]
    stacked = {str(i): t.clone() for i, t in enumerate(start)}
    optimizer = StackedOptimizer(
        settings, [Schedule(s.lr, sc, spe, epochs) for s, sc in zip(settings, schedules, strict=True)]
    )
    alone = []
    for m in range(n):
        params = [torch.nn.Parameter(t[m].clone()) for t in start]
        o = build_optimizer(params, settings[m])
        alone.append((params, o, build_scheduler(o, schedules[m], spe, epochs)))
    for step in range(spe * epochs):
        grads = [torch.randn(n, *s, generator=gen) for s in shapes]
        assert optimizer.lr_at(step) == pytest.approx(
            [o.param_groups[0]["lr"] for _, o, _ in alone], rel=1e-12
        )
        optimizer.apply(stacked, {str(i): g for i, g in enumerate(grads)}, optimizer.coefficients(step))
        for m, (params, o, s) in enumerate(alone):
            for p, g in zip(params, grads, strict=True):
                p.grad = g[m].clone()
            o.step()
            s.step()
    for m, (params, _, _) in enumerate(alone):
        for i, p in enumerate(params):
            assert torch.allclose(stacked[str(i)][m], p.detach(), rtol=1e-6, atol=1e-7), (settings[m].name, i)
    optimizer.keep([0, 4, 9])
    assert [s.name for s in optimizer.settings] == [settings[0].name, settings[4].name, settings[9].name]
    assert all(t.shape[0] == 3 for state in optimizer.state.values() for t in state.values())


def test_members_that_join_a_stepping_optimiser_step_as_torch_optim_from_their_own_first_step():
    """Half the members train three steps, then the other half joins (regrouped in kind order):
    each member's numbers count from its own first step (schedules, Adam's bias corrections,
    momentum and averages starting at zero)."""
    from workers.build import build_optimizer, build_scheduler

    spe, epochs, late = 3, 3, 3
    first = [i for i in range(len(SETTINGS)) if i % 2 == 0]
    order_first = sorted(first, key=lambda i: (kind_of(SETTINGS[i]), i))
    order_all = sorted(range(len(SETTINGS)), key=lambda i: (kind_of(SETTINGS[i]), i))
    shapes = [(5, 4), (5,), (2, 3, 3, 3)]
    gen = torch.Generator().manual_seed(1)
    start = [torch.randn(len(SETTINGS), *s, generator=gen) for s in shapes]

    def schedules(order):
        return [Schedule(SETTINGS[i].lr, SCHEDULES[i], spe, epochs) for i in order]

    optimizer = StackedOptimizer([SETTINGS[i] for i in order_first], schedules(order_first))
    stacked = {str(k): t[order_first].clone() for k, t in enumerate(start)}
    alone = {}
    for m in range(len(SETTINGS)):
        params = [torch.nn.Parameter(t[m].clone()) for t in start]
        o = build_optimizer(params, SETTINGS[m])
        alone[m] = (params, o, build_scheduler(o, SCHEDULES[m], spe, epochs))
    order = order_first
    for step in range(late + spe * epochs):
        if step == late:
            optimizer = optimizer.regroup(
                [order_all.index(i) for i in order_first],
                [SETTINGS[i] for i in order_all],
                schedules(order_all),
                [0 if i in first else late for i in order_all],
            )
            joined = {}
            for k, t in stacked.items():
                full = start[int(k)].clone()
                full[order_first] = t
                joined[k] = full[order_all]
            stacked, order = joined, order_all
        trained = [i for i in order if i in first or step >= late]
        grads = [torch.randn(len(order), *s, generator=gen) for s in shapes]
        assert optimizer.lr_at(step) == pytest.approx(
            [alone[i][1].param_groups[0]["lr"] for i in order], rel=1e-12
        )
        optimizer.apply(stacked, {str(k): g for k, g in enumerate(grads)}, optimizer.coefficients(step))
        for row, m in enumerate(order):
            if m not in trained:
                continue
            params, o, s = alone[m]
            for p, g in zip(params, grads, strict=True):
                p.grad = g[row].clone()
            o.step()
            s.step()
    for row, m in enumerate(order):
        for k, p in enumerate(alone[m][0]):
            assert torch.allclose(stacked[str(k)][row], p.detach(), rtol=1e-6, atol=1e-7), (
                SETTINGS[m].name,
                k,
            )


def test_members_must_be_ordered_by_optimiser_kind():
    with pytest.raises(ValueError, match="ordered by optimiser kind"):
        StackedOptimizer([opt.Adam(), opt.SGD(), opt.Adam()], [Schedule(0.1, sched.Constant(), 1, 1)] * 3)


# ---------------------------------------------------------------------- CUDA graphs


def test_on_the_cpu_the_step_runs_eagerly_and_says_why(small):
    pack = Pack(
        [PackMember(mlp(0, epochs=1)), PackMember(mlp(1, epochs=1))], small, device=torch.device("cpu")
    )
    results = pack.run([None, None])
    assert all(r.stopped_reason == COMPLETED for r in results)
    assert pack.graphs.mode == EAGER
    assert "CUDA graphs need a CUDA device" in pack.graphs.reason
    assert pack.graphs.captures == 0
    calls = []
    graphs = StepGraphs(lambda inputs, step: calls.append(step) or torch.zeros(1), torch.device("cpu"))
    graphs("full", None, 0)
    graphs("full", None, 5)
    assert calls == [0, 5]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_replay_the_eager_step_and_match_solo():
    digits = load_dataset("digits")
    configs = [
        example("digits_cnn.yaml", 2),
        example("digits_cnn.yaml", 5, seed=1, optimizer={"name": "sgd", "lr": 0.05, "grad_clip": 1.0}),
        example("digits_cnn.yaml", 5, seed=2),
    ]
    graphed = Pack([PackMember(c) for c in configs], digits, device=torch.device("cuda"))
    with_graphs = graphed.run([None] * 3)
    eager = train_packed([PackMember(c) for c in configs], digits, device="cuda", cuda_graphs=False)
    assert graphed.graphs.mode != EAGER, graphed.graphs.reason
    # The full batches' graph, captured again once after the first member left; the short
    # last batch of each epoch is still warming up (eager) after it: no capture per step.
    assert 1 <= graphed.graphs.captures <= 4
    for g, e, c in zip(with_graphs, eager, configs, strict=True):
        assert g.probabilities.tobytes() == e.probabilities.tobytes()
        solo = train(c, digits, device="cuda")
        assert (g.predictions == solo.predictions).mean() >= 0.99
        assert np.abs(g.probabilities - solo.probabilities).max() <= 0.05
        assert math.isfinite(g.history[-1]["train_loss"])

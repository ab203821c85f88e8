"""The stopping rules on their own: the clock, the cancel poll, the epoch cap and early
stopping, each asked as the loop asks it, with made-up times and losses."""

from __future__ import annotations

from workers.training.loop import steps_per_epoch
from workers.training.plan import EarlyStopping
from workers.training.result import BUDGET_EPOCHS, BUDGET_SECONDS, CANCELLED, EARLY_STOPPING, Stop
from workers.training.stopping import CancelPoll, EarlyStopper, EpochCap, WallClock


def test_wall_clock_stops_past_the_budget_counted_from_the_runs_start():
    clock = WallClock(1.5, start=100.0)
    assert clock.check(101.5) is None
    assert clock.check(101.75) == Stop(
        BUDGET_SECONDS, "stopped after 1.8 s: the budget allows 1.5 s of training"
    )
    assert WallClock(None, start=0.0).check(1e9) is None


def test_cancel_poll_asks_at_most_every_interval_unless_forced():
    asked: list[float] = []
    answer = [False]

    def should_stop() -> bool:
        asked.append(0)
        return answer[0]

    poll = CancelPoll(should_stop, start=0.0, interval=2.0)
    assert poll.check(1.0) is None and asked == []  # not due yet
    assert poll.check(2.0) is None and len(asked) == 1
    assert poll.check(3.0) is None and len(asked) == 1  # the next one is due at 4.0
    assert poll.check(3.0, force=True) is None and len(asked) == 2  # an epoch's end asks now
    answer[0] = True
    assert poll.check(4.0) is None and len(asked) == 2  # due at 5.0 since the forced ask
    assert poll.check(5.0) == Stop(CANCELLED, "cancelled while training")
    assert CancelPoll(None, start=0.0).check(100.0, force=True) is None


def test_epoch_cap_holds_per_phase():
    cap = EpochCap(2)
    assert cap.check(0, "pretrain") is None and cap.check(1, "train") is None
    assert cap.check(2, "train") == Stop(BUDGET_EPOCHS, "stopped after 2 train epochs: the budget allows 2")
    assert EpochCap(None).check(10_000, "train") is None


def test_early_stopping_counts_epochs_without_an_improvement_larger_than_min_delta():
    early = EarlyStopper(EarlyStopping(patience=2, min_delta=0.1))
    assert early.observe(1, 1.0) is True and early.check(1) is None
    assert early.observe(2, 0.95) is False and early.check(2) is None  # better, but not by more than 0.1
    assert early.observe(3, 0.85) is True and early.check(3) is None  # 0.15 better: counts again from here
    assert early.observe(4, 0.9) is False and early.check(4) is None
    assert early.observe(5, 0.8) is False  # 0.05 better than the best: not enough
    assert (early.best_epoch, early.best_value) == (3, 0.85)
    assert early.check(5) == Stop(
        EARLY_STOPPING, "early stopping at epoch 5: val_loss did not improve for 2 epochs (best at epoch 3)"
    )


def test_an_epochs_batches_never_end_on_a_single_row():
    assert steps_per_epoch(100, 32) == (32, 4)  # 3 full batches and one of 4 rows
    assert steps_per_epoch(97, 32) == (32, 3)  # a last batch of one row is dropped
    assert steps_per_epoch(5, 64) == (5, 1)  # the batch is at most the rows there are

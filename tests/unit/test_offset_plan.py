"""The arithmetic of ``floodwall offsets``: a stored offset against its log; what a reset skips, re-reads."""

from __future__ import annotations

import pytest

from floodwall.consumers.offset_plan import (
    Change,
    PartitionOffsets,
    ResetRefused,
    Status,
    Target,
    classify,
    plan_reset,
    show_exit_status,
    summary,
)


@pytest.mark.parametrize(
    ("stored", "low", "high", "status"),
    [
        (None, 0, 10, Status.NO_STORED),
        (0, 0, 10, Status.OK),  # at the log start
        (5, 0, 10, Status.OK),
        (10, 0, 10, Status.OK),  # caught up: the next event will have this offset
        (0, 0, 0, Status.OK),  # empty log, nothing applied
        (11, 0, 10, Status.BEYOND_END),
        (5000, 0, 0, Status.BEYOND_END),  # topic recreated
        (3, 4, 10, Status.BEFORE_START),  # retention deleted offset 3 before it was applied
        (0, 10, 10, Status.BEFORE_START),  # everything deleted, nothing applied
    ],
)
def test_classify(stored: int | None, low: int, high: int, status: Status) -> None:
    assert classify(stored, low, high) is status


def row(stored: int | None, low: int, high: int, partition: int = 0) -> PartitionOffsets:
    return PartitionOffsets("orders", partition, stored, None, low, high)


def test_lag_is_end_minus_stored_and_negative_beyond_the_end() -> None:
    assert row(7, 0, 10).lag == 3
    assert row(15, 0, 10).lag == -5
    assert row(None, 0, 10).lag is None


def test_json_row_carries_every_column() -> None:
    assert PartitionOffsets("inventory", 2, 3, 1, 4, 9).as_json() == {
        "topic": "inventory", "partition": 2, "stored_offset": 3, "committed_offset": 1, "log_start": 4,
        "log_end": 9, "lag": 6, "status": "before log start",
    }  # fmt: skip


def test_exit_status_is_1_only_for_out_of_range() -> None:
    assert show_exit_status([row(5, 0, 10), row(None, 0, 10, 1)]) == 0
    assert show_exit_status([]) == 0
    assert show_exit_status([row(5, 0, 10), row(11, 0, 10, 1)]) == 1
    assert show_exit_status([row(0, 1, 10)]) == 1


def test_targets_resolve_to_the_log_bounds() -> None:
    r = row(5, 2, 10)
    assert Target("earliest").resolve(r) == 2
    assert Target("latest").resolve(r) == 10
    assert Target("offset", 2).resolve(r) == 2 and Target("offset", 10).resolve(r) == 10


@pytest.mark.parametrize("offset", [1, 11])
def test_an_offset_outside_the_log_is_refused_with_the_range(offset: int) -> None:
    with pytest.raises(ResetRefused, match=rf"orders\[0\]: offset {offset} is outside the log \[2, 10\]"):
        plan_reset([row(5, 2, 10)], Target("offset", offset))


def test_one_bad_partition_refuses_the_whole_plan() -> None:
    with pytest.raises(ResetRefused, match=r"orders\[1\]"):
        plan_reset([row(5, 0, 100), row(5, 0, 10, 1)], Target("offset", 50))


def test_moving_forward_skips_and_back_rereads() -> None:
    forward = plan_reset([row(40, 0, 100)], Target("latest"))[0]
    assert (forward.old, forward.new, forward.skipped, forward.reread, forward.lost) == (40, 100, 60, 0, 0)
    assert "skips 60 events (offsets 40..99)" in forward.describe()
    back = plan_reset([row(40, 10, 100)], Target("earliest"))[0]
    assert (back.new, back.skipped, back.reread) == (10, 0, 30)
    assert (
        "re-reads 30 events (offsets 10..39; already applied ones are dropped by event id)" in back.describe()
    )


def test_no_change_says_so() -> None:
    same = plan_reset([row(100, 0, 100)], Target("latest"))[0]
    assert (same.skipped, same.reread) == (0, 0)
    assert same.describe() == "orders[0]: 100 -> 100 (skips and re-reads nothing)"


def test_before_log_start_counts_the_deleted_events_as_lost_not_skipped() -> None:
    earliest = plan_reset([row(30, 50, 80)], Target("earliest"))[0]
    assert (earliest.lost, earliest.skipped, earliest.reread) == (20, 0, 0)
    assert (
        "20 events (offsets 30..49) were deleted by the broker before they were applied"
        in earliest.describe()
    )
    latest = plan_reset([row(30, 50, 80)], Target("latest"))[0]
    assert (latest.lost, latest.skipped) == (20, 30)


def test_beyond_log_end_reads_the_log_and_counts_nothing_as_reread() -> None:
    # Topic recreated: the stored 5000 says nothing about the new log's 120 events.
    earliest = plan_reset([row(5000, 0, 120)], Target("earliest"))[0]
    assert (earliest.skipped, earliest.reread, earliest.lost) == (0, 0, 0)
    text = earliest.describe()
    assert "lies 4880 beyond the log end 120" in text and "reads 120 events from offset 0" in text
    latest = plan_reset([row(5000, 0, 120)], Target("latest"))[0]
    assert latest.skipped == 120 and "skips 120 events (offsets 0..119)" in latest.describe()


def test_no_stored_offset_starts_from_the_log_start() -> None:
    change = plan_reset([row(None, 5, 25)], Target("offset", 15))[0]
    assert (change.old, change.new, change.skipped, change.reread) == (None, 15, 10, 0)
    assert change.describe().startswith("orders[0]: none -> 15 (no stored offset")


def test_summary_adds_up() -> None:
    changes = [Change("orders", 0, 40, 100, 0, 100), Change("orders", 1, 90, 50, 0, 100)]
    assert summary(changes) == "2 partition(s): skips 60 events, re-reads 40"

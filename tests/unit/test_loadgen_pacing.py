"""Load-generator pacing arithmetic, the acknowledgement log and the drain arithmetic."""

from __future__ import annotations

import math
import time
from pathlib import Path
from uuid import uuid4

import pytest

from floodwall.loadgen.acks import Ack, AckStatus, AckWriter, read_acks
from floodwall.loadgen.drain import Span, remaining, spans_of
from floodwall.loadgen.pacer import (
    MIN_SLEEP_S,
    PerSecond,
    Window,
    processes_for,
    wait_before,
    windows,
    worst_error,
)
from floodwall.loadgen.sampler import Sampler, Series
from floodwall.producers.delivery import DeliveryStatus


def test_wait_before_sleeps_only_when_ahead_of_schedule() -> None:
    assert wait_before(due=10.25, now=10.0) == pytest.approx(0.25)
    assert wait_before(due=10.0, now=10.0) == 0.0
    assert wait_before(due=10.0, now=12.0) == 0.0  # late: send at once, never wait for the past
    assert wait_before(due=10.0 + MIN_SLEEP_S / 2, now=10.0) == 0.0


@pytest.mark.parametrize(
    ("peak", "per_process", "most", "expected"),
    [(5000, 12000, 8, 1), (12000, 12000, 8, 1), (12001, 12000, 8, 2), (90000, 12000, 4, 4), (1, 12000, 2, 1)],
)
def test_processes_for_the_peak_rate(peak: float, per_process: float, most: int, expected: int) -> None:
    assert processes_for(peak, per_process, most) == expected


def test_per_second_counts_and_merges() -> None:
    counts = PerSecond()
    for t in (-0.5, 0.0, 0.99, 1.0, 3.2, 3.9):
        counts.add(t)
    assert counts.before == 1 and counts.counts == [2, 1, 0, 2]
    counts.merge([1, 1, 1, 1, 1])
    assert counts.counts == [3, 2, 1, 3, 1]


def test_windows_compare_whole_windows_only() -> None:
    target = [100] * 25
    achieved = [100] * 9 + [50] + [100] * 10 + [100] * 5
    found = windows(target, achieved, 10)
    assert [(w.start_s, w.target, w.achieved) for w in found] == [(0, 1000, 950), (10, 1000, 1000)]
    assert found[0].error == pytest.approx(-0.05) and found[1].error == 0
    assert worst_error(found) == pytest.approx(-0.05)
    # Late events spilling past the schedule's end do not count in a window that does not exist.
    assert windows([10, 10], [5, 5, 10], 2)[0].achieved == 10
    assert worst_error([Window(0, 10, 0, 0)]) is None


def test_acks_round_trip(tmp_path: Path) -> None:
    now = time.time()
    written = [
        Ack(
            uuid4(),
            uuid4(),
            "order.placed",
            AckStatus.ACKNOWLEDGED,
            0,
            3,
            5,
            17,
            now,
            now + 0.001,
            now + 0.01,
        ),
        Ack(uuid4(), None, "inventory.restock", AckStatus.REFUSED, 1, 0, -1, -1, now, now, math.nan),
    ]
    with AckWriter(tmp_path / "a.bin") as writer:
        for ack in written:
            writer.write(ack)
    back = list(read_acks([tmp_path / "a.bin"]))
    assert back[0] == written[0]
    assert back[1][:9] == written[1][:9] and math.isnan(back[1].acked) and not back[1].has_ack_time
    assert back[0].accepted and not back[1].accepted
    assert AckStatus.of(DeliveryStatus.SPOOLED).accepted and not AckStatus.of(DeliveryStatus.FAILED).accepted


def _ack(topic: int, partition: int, offset: int) -> Ack:
    return Ack(uuid4(), None, "order.paid", AckStatus.ACKNOWLEDGED, topic, 0, partition, offset, 0, 0, 0)


def test_drain_spans_and_remaining() -> None:
    acks = [_ack(0, 1, 10), _ack(0, 1, 14), _ack(1, 1, 3), _ack(0, 2, 0), _ack(1, 0, -1)]
    spans = spans_of(acks, ("o", "i"))
    assert spans == {("o", 1): Span(10, 15), ("i", 1): Span(3, 4), ("o", 2): Span(0, 1)}
    assert remaining(spans, {}) == 5 + 1 + 1
    assert remaining(spans, {("o", 1): 12, ("i", 1): 4}) == 3 + 0 + 1
    # Stored offsets beyond the span (later traffic) or before it (earlier runs) are clamped.
    assert remaining(spans, {("o", 1): 99, ("i", 1): 0, ("o", 2): 1}) == 0 + 1 + 0


def test_sampler_keeps_points_and_survives_a_failing_probe() -> None:
    calls = {"n": 0}

    def counter() -> float:
        calls["n"] += 1
        return float(calls["n"])

    def broken() -> float:
        raise RuntimeError("no")

    sampler = Sampler({"count": counter, "broken": broken, "empty": lambda: None}, interval_s=0.1)
    sampler.start(time.time())
    time.sleep(0.45)
    series = sampler.stop()
    points = series.points["count"]
    assert len(points) >= 3 and [v for _, v in points] == sorted(v for _, v in points)
    assert "broken" not in series.points and "empty" not in series.points
    assert series.peak("count") == points[-1][1] and Series().peak("x") is None

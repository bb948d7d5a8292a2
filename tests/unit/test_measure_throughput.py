"""autoscaler/measure.py: per-replica throughput is taken only from a saturated fleet — never from a fleet
that keeps up (its egress is the ingress), which once scaled the demo 1 -> 4 during a 100 events/s
warm-up."""

from __future__ import annotations

from functools import partial

from floodwall.autoscaler.measure import MeasureConfig, Measurer
from floodwall.autoscaler.model import PartitionOffsets


def measurer_over(ticks: list[tuple[int, int]]) -> tuple[Measurer, list[float | None]]:
    """Snapshots 2 s apart, 4 partitions, each tick given as (summed end offsets, summed committed)."""
    measurer = Measurer(MeasureConfig("127.0.0.1:1", "g", ("orders",)))  # the client connects lazily
    seen: list[float | None] = []
    for n, (end, committed) in enumerate(ticks):
        parts = tuple(PartitionOffsets("orders", p, end // 4, committed // 4) for p in range(4))
        measurer.offsets = partial(tuple, parts)  # type: ignore[method-assign]
        seen.append(measurer.snapshot(current_replicas=2, now=2.0 * n).replica_throughput_events_per_s)
    return measurer, seen


def test_a_fleet_that_keeps_up_is_not_measured_however_little_lag_it_shows() -> None:
    # 100 events/s in, 100/s out, 8 events in flight in every partition: lag everywhere, nothing waiting
    _, seen = measurer_over([(1_000, 968), (1_200, 1_168), (1_400, 1_368), (1_600, 1_568)])
    assert seen == [None, None, None, None]


def test_a_saturated_fleet_is_measured_per_replica() -> None:
    # 10,000 events/s in, 3,000/s out by 2 replicas, the backlog growing: 1,500/s per replica
    _, seen = measurer_over([(0, 0), (20_000, 6_000), (40_000, 12_000)])
    assert seen[0] is None and seen[1] == 1_500.0
    assert seen[2] == 1_500.0  # smoothed, and the same observation again

"""What the autoscaler sees and what it decides: immutable values shared by measure, decide and act.

*Measure* builds one :class:`Snapshot` per tick; *decide* is a :class:`Policy` — a pure function
``decide(snapshot, state) -> (Decision, new_state)`` that reads no clock, does no I/O and draws no random
numbers (time comes in as ``Snapshot.at_s``, history as the policy's own immutable state); *act* applies
``Decision.desired``. The simulator (``autoscaler.simulate``) builds the same snapshots from a model of the
fleet and calls the same policy objects, so what the table shows is what the daemon would do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition of a consumed topic.

    ``end_offset`` is the log end (the offset the next produced record gets); ``committed_offset`` is the
    consumer group's committed position, or ``None`` when the group has no valid committed offset for the
    partition (Kafka answers -1: nothing committed yet, or the offset expired) — KEDA's "invalid offset".
    """

    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None

    @property
    def lag(self) -> int | None:
        """Records not yet consumed (log end minus committed offset); ``None`` without a valid committed
        offset. Negative only when the log was replaced under a stored offset (topic recreated, broker
        data lost): the consumer then stops that partition and alerts (consumers/outofrange.py)."""
        if self.committed_offset is None:
            return None
        return self.end_offset - self.committed_offset


@dataclass(frozen=True)
class DbHealth:
    """The database as the write path sees it (Patroni REST / HAProxy)."""

    primary_healthy: bool
    failing_over: bool
    detail: str = ""

    @property
    def writable(self) -> bool:
        """A healthy primary that is not in the middle of a failover."""
        return self.primary_healthy and not self.failing_over


HEALTHY_DB = DbHealth(primary_healthy=True, failing_over=False, detail="primary healthy")


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the fleet at ``at_s`` (seconds on the measuring clock, monotonic).

    Rates are events/s from deltas between two consecutive measurements (``None`` on the first one).
    ``replica_throughput_events_per_s`` is the apply rate of one replica observed while it was neither
    throttled, nor paused, nor short of work (``None`` when no replica was in that state during the last
    window). ``fleet_throttled`` says whether any replica was held back by the write budget or the adaptive
    throttle.
    """

    at_s: float
    current_replicas: int
    partitions: tuple[PartitionOffsets, ...]
    ingress_events_per_s: float | None
    egress_events_per_s: float | None
    replica_throughput_events_per_s: float | None
    fleet_throttled: bool
    db: DbHealth

    @property
    def total_lag(self) -> int:
        """Sum of the lag of the partitions that have a valid committed offset."""
        return sum(p.lag or 0 for p in self.partitions)

    @property
    def partitions_with_lag(self) -> int:
        """Partitions whose lag is above zero."""
        return sum(1 for p in self.partitions if (p.lag or 0) > 0)

    @property
    def partitions_without_offset(self) -> int:
        """Partitions with no valid committed offset."""
        return sum(1 for p in self.partitions if p.committed_offset is None)

    @property
    def partition_count(self) -> int:
        """All partitions of all consumed topics (what KEDA caps at when no topic is set)."""
        return len(self.partitions)

    @property
    def max_partitions_per_topic(self) -> int:
        """Most partitions of any one topic: with per-topic (range) assignment, consumers beyond it idle."""
        counts: dict[str, int] = {}
        for p in self.partitions:
            counts[p.topic] = counts.get(p.topic, 0) + 1
        return max(counts.values(), default=0)


@dataclass(frozen=True)
class Decision:
    """What to run and why.

    ``reason`` is a low-cardinality code (usable as a Prometheus label, e.g. ``scale_up_backlog``,
    ``hold_db_unhealthy``, ``capped_budget``); ``detail`` is one sentence with the numbers behind it.
    """

    desired: int
    reason: str
    detail: str


S = TypeVar("S")


class Policy(Protocol[S]):
    """A decision rule. ``decide`` must be pure: same snapshot and state, same answer."""

    @property
    def name(self) -> str: ...

    def initial_state(self) -> S:
        """The state before the first decision."""
        ...

    def decide(self, snapshot: Snapshot, state: S) -> tuple[Decision, S]:
        """The desired replica count for ``snapshot`` and the state to pass to the next call."""
        ...


def ceil_div(numerator: float, denominator: float) -> int:
    """``ceil(numerator / denominator)`` for a positive denominator, never below 0. A quotient within a
    millionth of a whole number is that number: 3,000 rows/s ÷ 2.7 over 1,000 ÷ 2.7 is 3 replicas, though
    the floats make it 3.0000000000000004."""
    return max(0, math.ceil(numerator / denominator - 1e-6))


def prune_before(entries: tuple[tuple[float, int], ...], cutoff: float) -> tuple[tuple[float, int], ...]:
    """Keep the ``(at_s, value)`` entries strictly after ``cutoff``."""
    return tuple(e for e in entries if e[0] > cutoff)

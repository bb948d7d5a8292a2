"""Snapshot builders shared by the autoscaler's table tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from floodwall.autoscaler.model import HEALTHY_DB, DbHealth, Decision, PartitionOffsets, Policy, Snapshot


def partitions(
    lags: Sequence[int | None], topic: str = "orders", base: int = 1_000
) -> tuple[PartitionOffsets, ...]:
    """One partition per lag; ``None`` = no valid committed offset (end offset ``base``)."""
    return tuple(
        PartitionOffsets(topic, i, base + (lag or 0), None if lag is None else base)
        for i, lag in enumerate(lags)
    )


def snap(
    lags: Sequence[int | None] = (0,) * 12,
    *,
    at: float = 0.0,
    current: int = 1,
    ingress: float | None = 0.0,
    egress: float | None = None,
    throughput: float | None = None,
    throttled: bool = False,
    db: DbHealth = HEALTHY_DB,
    parts: tuple[PartitionOffsets, ...] | None = None,
) -> Snapshot:
    return Snapshot(
        at_s=at,
        current_replicas=current,
        partitions=parts if parts is not None else partitions(lags),
        ingress_events_per_s=ingress,
        egress_events_per_s=egress,
        replica_throughput_events_per_s=throughput,
        fleet_throttled=throttled,
        db=db,
    )


def spread(total: int, count: int = 12) -> list[int]:
    """``total`` lag spread evenly over ``count`` partitions."""
    per, extra = divmod(total, count)
    return [per + (1 if i < extra else 0) for i in range(count)]


def run(policy: Policy[Any], snapshots: Sequence[Snapshot], state: Any = None) -> list[Decision]:
    """Feed the snapshots in order; from the second on, each runs the replicas the last decision asked for."""
    state = policy.initial_state() if state is None else state
    decisions: list[Decision] = []
    for s in snapshots:
        if decisions:
            s = replace(s, current_replicas=decisions[-1].desired)
        decision, state = policy.decide(s, state)
        decisions.append(decision)
    return decisions

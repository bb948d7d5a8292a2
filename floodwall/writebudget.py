"""The fleet-wide write budget's one rule, shared by the consumers (consumers/ratelimit.py) and the
autoscaler's model of the fleet (autoscaler/fleetmodel.py): each consumer takes its partitions' share."""

from __future__ import annotations


def partition_share(budget: float, mine: int, total: int) -> float:
    """Rows/s this consumer may write. ``budget`` 0 means unlimited (returns 0: no limit)."""
    if budget <= 0 or total <= 0:
        return 0.0
    return budget * mine / total

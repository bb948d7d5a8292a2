"""Prometheus metrics of the autoscaler (``floodwall_autoscaler_*``); names are used by the chart's
dashboards and alert rules."""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from floodwall.autoscaler.model import Decision, Snapshot


def drain_seconds(snapshot: Snapshot) -> float:
    """Estimated time to work off the lag at the current rates: 0 without lag, +Inf when not shrinking."""
    lag = snapshot.total_lag
    if lag == 0:
        return 0.0
    ingress, egress = snapshot.ingress_events_per_s, snapshot.egress_events_per_s
    if ingress is None or egress is None or egress <= ingress:
        return math.inf
    return lag / (egress - ingress)


@dataclass(frozen=True)
class AutoscalerMetrics:
    desired: Gauge
    current: Gauge
    partition_lag: Gauge
    total_lag: Gauge
    ingress: Gauge
    egress: Gauge
    drain: Gauge
    decisions: Counter
    actuation_errors: Counter
    measure_errors: Counter
    db_healthy: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AutoscalerMetrics:
        p = "floodwall_autoscaler_"
        return cls(
            desired=Gauge(p + "desired_replicas", "Replicas the policy asks for", registry=registry),
            current=Gauge(p + "current_replicas", "Replicas running when measured", registry=registry),
            partition_lag=Gauge(
                p + "partition_lag_events",
                "Log end minus the group's committed offset",
                ["topic", "partition"],
                registry=registry,
            ),
            total_lag=Gauge(p + "total_lag_events", "Lag summed over the partitions", registry=registry),
            ingress=Gauge(
                p + "ingress_events_per_second", "Events arriving in the topics", registry=registry
            ),
            egress=Gauge(
                p + "egress_events_per_second", "Events committed by the consumer group", registry=registry
            ),
            drain=Gauge(
                p + "drain_seconds",
                "Estimated time to drain the lag at current rates (+Inf when not shrinking)",
                registry=registry,
            ),
            decisions=Counter(
                p + "decisions_total", "Decisions taken, by reason", ["reason"], registry=registry
            ),
            actuation_errors=Counter(
                p + "actuation_errors_total", "Failed attempts to read or set replicas", registry=registry
            ),
            measure_errors=Counter(
                p + "measure_errors_total",
                "Ticks without a measurement (broker or group unreadable)",
                registry=registry,
            ),
            db_healthy=Gauge(
                p + "db_primary_healthy",
                "1 when the database primary is healthy and settled",
                registry=registry,
            ),
        )

    def observe(self, snapshot: Snapshot, decision: Decision) -> None:
        self.desired.set(decision.desired)
        self.current.set(snapshot.current_replicas)
        for p in snapshot.partitions:
            self.partition_lag.labels(p.topic, str(p.partition)).set(p.lag or 0)
        self.total_lag.set(snapshot.total_lag)
        if snapshot.ingress_events_per_s is not None:
            self.ingress.set(snapshot.ingress_events_per_s)
        if snapshot.egress_events_per_s is not None:
            self.egress.set(snapshot.egress_events_per_s)
        self.drain.set(drain_seconds(snapshot))
        self.decisions.labels(decision.reason).inc()
        self.db_healthy.set(1 if snapshot.db.writable else 0)

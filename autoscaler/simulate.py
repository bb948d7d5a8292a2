"""Replay a trace against the fleet model, one second at a time, with a real policy deciding.

Every ``tick_s`` seconds the simulator measures the fleet the way the daemon's measure step does — end and
committed offsets per partition, ingress and egress from their deltas since the last measurement, the apply
rate of an unthrottled, busy replica when one was seen in the window, the throttle state, database health —
and hands the :class:`~autoscaler.model.Snapshot` to the same policy object the daemon uses. The decision is
applied at once (the actuator's own delay is the model's start-up delay).

Outcome per run (:class:`SimResult`):

- ``max_lag``: the largest total lag (events) at the end of any second.
- ``drain_s``: seconds from the end of the spike — the last second at which the trace's rate is at least
  half its peak — until the total lag is first *drained*: at most one second of the ingress at that instant
  and at least ``drained_lag_events`` (the in-flight batches alone keep ~0.2 s of ingress as lag);
  ``None`` if it never drains.
- ``replica_seconds``: replica processes running, summed over the seconds (the cost).
- ``scale_events``: decisions that changed the replica count (each one a group-wide rebalance).
- ``over_budget_s``: seconds in which the rows the fleet tried to write (after its own budget enforcement,
  if it has one, before the database's limit) exceeded the write budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from floodwall.autoscaler.fleetmodel import Fleet, FleetParams, TickFlow
from floodwall.autoscaler.model import HEALTHY_DB, DbHealth, Decision, Policy, Snapshot
from floodwall.autoscaler.traces import Trace

FAILOVER_DB = DbHealth(
    primary_healthy=False, failing_over=True, detail="Patroni failover: no writable primary"
)


@dataclass(frozen=True)
class SimParams:
    """One run's set-up: the fleet, the decision interval and the drain threshold."""

    fleet: FleetParams = field(default_factory=FleetParams)
    tick_s: float = 5.0
    initial_replicas: int = 1
    drained_lag_events: int = 1000


@dataclass(frozen=True)
class TickRecord:
    """The end of second ``t``."""

    t: int
    arrived: int
    applied: int
    lag: int
    replicas: int
    paused_fraction: float
    demanded_rows: float
    over_budget: bool
    decision: Decision | None


@dataclass(frozen=True)
class SimResult:
    """The outcome of one policy on one trace (see the module docstring for the definitions)."""

    policy: str
    trace: str
    consumers_enforce_budget: bool
    max_lag: int
    drain_s: int | None
    replica_seconds: int
    scale_events: int
    over_budget_s: int
    peak_replicas: int
    peak_demand_rows_per_s: float
    final_lag: int
    events_in: int
    events_applied: int
    paused_s: float
    decisions_by_reason: dict[str, int]
    ticks: tuple[TickRecord, ...] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The JSON-ready figures (everything but the per-second ticks)."""
        return {
            "max_lag": self.max_lag,
            "drain_s": self.drain_s,
            "replica_seconds": self.replica_seconds,
            "scale_events": self.scale_events,
            "over_budget_s": self.over_budget_s,
            "peak_replicas": self.peak_replicas,
            "peak_demand_rows_per_s": round(self.peak_demand_rows_per_s),
            "final_lag": self.final_lag,
            "events_in": self.events_in,
            "events_applied": self.events_applied,
            "rebalance_paused_s": round(self.paused_s, 1),
            "consumers_enforce_budget": self.consumers_enforce_budget,
            "decisions_by_reason": dict(sorted(self.decisions_by_reason.items())),
        }


@dataclass
class _Meter:
    """The measure step's memory: the previous totals and what the window saw of the replicas."""

    last: tuple[float, int, int] | None = None  # (t, sum of end offsets, sum of committed offsets)
    saturated: list[float] = field(default_factory=list)
    throttled: bool = False

    def observe(self, flow: TickFlow) -> None:
        if flow.saturated_rate is not None:
            self.saturated.append(flow.saturated_rate)
        self.throttled |= flow.throttled

    def snapshot(self, t: int, fleet: Fleet, db_up: bool) -> Snapshot:
        ends, committed = sum(fleet.end), sum(fleet.committed)
        ingress = egress = None
        if self.last is not None and t > self.last[0]:
            elapsed = t - self.last[0]
            ingress, egress = (ends - self.last[1]) / elapsed, (committed - self.last[2]) / elapsed
        throughput = sum(self.saturated) / len(self.saturated) if self.saturated else None
        snap = Snapshot(
            at_s=float(t),
            current_replicas=fleet.running,
            partitions=fleet.offsets(),
            ingress_events_per_s=ingress,
            egress_events_per_s=egress,
            replica_throughput_events_per_s=throughput,
            fleet_throttled=self.throttled,
            db=HEALTHY_DB if db_up else FAILOVER_DB,
        )
        self.last, self.saturated, self.throttled = (t, ends, committed), [], False
        return snap


def simulate(policy: Policy[Any], trace: Trace, params: SimParams) -> SimResult:
    """Run ``policy`` over ``trace``; deterministic (same inputs, same result)."""
    fleet = Fleet(params.fleet, params.initial_replicas)
    meter, state = _Meter(), policy.initial_state()
    budget = params.fleet.write_budget_rows_per_s
    next_decision, scale_events = 0.0, 0
    reasons: Counter[str] = Counter()
    records: list[TickRecord] = []
    for t in range(trace.duration_s):
        decision = None
        if t >= next_decision:
            decision, state = policy.decide(meter.snapshot(t, fleet, trace.db_up_at(t)), state)
            reasons[decision.reason] += 1
            if decision.desired != fleet.running:
                fleet.scale_to(decision.desired, float(t))
                scale_events += 1
            next_decision += params.tick_s
        replicas = fleet.running
        flow = fleet.step(t, trace.events_between(t, t + 1), trace.db_up_at(t))
        meter.observe(flow)
        over = budget > 0 and flow.demanded_rows > budget * (1 + 1e-9)
        records.append(
            TickRecord(
                t, flow.arrived, flow.applied, fleet.lag, replicas, flow.paused_fraction,
                flow.demanded_rows, over, decision,
            )
        )  # fmt: skip
    return _result(policy.name, trace, params, records, scale_events, reasons)


def _result(
    name: str,
    trace: Trace,
    params: SimParams,
    records: list[TickRecord],
    scale_events: int,
    reasons: Counter[str],
) -> SimResult:
    return SimResult(
        policy=name,
        trace=trace.name,
        consumers_enforce_budget=params.fleet.enforce_budget,
        max_lag=max(r.lag for r in records),
        drain_s=drain_seconds(records, trace, params.drained_lag_events),
        replica_seconds=sum(r.replicas for r in records),
        scale_events=scale_events,
        over_budget_s=sum(r.over_budget for r in records),
        peak_replicas=max(r.replicas for r in records),
        peak_demand_rows_per_s=max(r.demanded_rows for r in records),
        final_lag=records[-1].lag,
        events_in=sum(r.arrived for r in records),
        events_applied=sum(r.applied for r in records),
        paused_s=sum(r.paused_fraction for r in records),
        decisions_by_reason=dict(reasons),
        ticks=tuple(records),
    )


def drain_seconds(records: list[TickRecord], trace: Trace, drained_lag: int) -> int | None:
    """Seconds from the trace's spike end until the lag is first drained (module docstring).

    ``records[i].lag`` is the lag at the instant ``records[i].t + 1``.
    """
    spike_end = trace.spike_end_s()
    for r in records:
        now = r.t + 1
        if now >= spike_end and r.lag <= max(drained_lag, trace.rate_at(now)):
            return now - spike_end
    return None


FLEET_MODES = ("as-deployed", "enforcing", "unenforced")


def enforces_budget(policy: str, mode: str) -> bool:
    """Whether the fleet a policy drives enforces the write budget under ``mode``.

    ``as-deployed``: Floodwall's policy drives Floodwall's consumers (they enforce it); the KEDA-compatible
    policy drives consumers as KEDA users run them (they do not). ``enforcing``/``unenforced``: the same
    fleet for every policy.
    """
    if mode == "enforcing":
        return True
    if mode == "unenforced":
        return False
    return policy == "floodwall"


def compare(policies: Sequence[Policy[Any]], trace: Trace, params: SimParams, mode: str) -> list[SimResult]:
    """Each policy over the same trace and fleet model, the budget enforced as ``mode`` says."""
    results = []
    for policy in policies:
        fleet = replace(params.fleet, enforce_budget=enforces_budget(policy.name, mode))
        results.append(simulate(policy, trace, replace(params, fleet=fleet)))
    return results

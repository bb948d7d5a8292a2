"""The KEDA-compatible policy: KEDA's Kafka scaler driving a Kubernetes HPA, reproduced faithfully.

Three loops of the real system, each emulated from its source:

- **The Kafka scaler** (kedacore/keda ``pkg/scalers/kafka_scaler.go``, ``getLagForPartition`` and
  ``getTotalLag``): per-partition lag ``end - committed``; a missing committed offset (Kafka's -1) counts
  1 with ``offsetResetPolicy=latest`` (0 with ``scaleToZeroOnInvalidOffset``) and the whole log end offset
  with ``earliest`` (0 with ``scaleToZeroOnInvalidOffset``); with ``excludePersistentLag`` a partition
  whose committed offset has not moved since the scaler last looked counts 0 toward the metric (but still
  toward activation). The metric is capped at ``upperBound * lagThreshold`` when
  ``(totalLag / lagThreshold) > upperBound`` — integer division, as in Go — where the bound is the
  partition count (``allowIdleConsumers=false``) or the partitions with lag
  (``limitToPartitionsWithLag``). Activity: lag including persistent lag ``> activationLagThreshold``.
- **KEDA's scale loop** (``pkg/scaling/executor/scale_scaledobjects.go``, every ``pollingInterval``,
  default 30 s): 0 → ``max(minReplicaCount, 1)`` when active; to 0 when inactive for ``cooldownPeriod``
  (default 300 s) with ``minReplicaCount`` 0; otherwise it only records the last active time.
- **The HPA** (every ``--horizontal-pod-autoscaler-sync-period``, default 15 s): AverageValue target
  ``lagThreshold`` per pod, tolerance, stabilization windows and step limits (:mod:`autoscaler.hpa`).
  The HPA's minReplicas is ``max(minReplicaCount, 1)``; at 0 replicas it is disabled.

Deliberate differences: when the scale loop and the HPA are due in the same tick the
partitions are read once (KEDA reads twice, and its second read would see no progress and, with
``excludePersistentLag``, count every partition as persistent); a scale made by KEDA's loop is not followed
by an HPA change in the same tick (the HPA would still see the old count).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from floodwall.autoscaler import hpa
from floodwall.autoscaler.model import Decision, PartitionOffsets, Snapshot

OffsetResetPolicy = Literal["latest", "earliest"]


@dataclass(frozen=True)
class KedaParams:
    """ScaledObject + Kafka trigger + HPA settings; defaults are KEDA's and Kubernetes' own."""

    lag_threshold: int = 10
    activation_lag_threshold: int = 0
    offset_reset_policy: OffsetResetPolicy = "latest"
    allow_idle_consumers: bool = False
    limit_to_partitions_with_lag: bool = False
    exclude_persistent_lag: bool = False
    scale_to_zero_on_invalid_offset: bool = False
    min_replicas: int = 0  # minReplicaCount
    max_replicas: int = 100  # maxReplicaCount
    polling_interval_s: float = 30
    cooldown_period_s: float = 300
    hpa_sync_period_s: float = 15
    tolerance: float = 0.1
    scale_up: hpa.ScalingRules = hpa.DEFAULT_SCALE_UP
    scale_down: hpa.ScalingRules = hpa.DEFAULT_SCALE_DOWN

    def __post_init__(self) -> None:
        # KEDA's kafkaMetadata.Validate() and the ScaledObject's own rules.
        if self.lag_threshold <= 0:
            raise ValueError("lagThreshold must be a positive number")
        if self.activation_lag_threshold < 0:
            raise ValueError("activationLagThreshold must not be negative")
        if self.allow_idle_consumers and self.limit_to_partitions_with_lag:
            raise ValueError("allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously")
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError("need 0 <= minReplicaCount <= maxReplicaCount and maxReplicaCount >= 1")

    @property
    def hpa_spec(self) -> hpa.HpaSpec:
        return hpa.HpaSpec(
            min_replicas=max(self.min_replicas, 1),
            max_replicas=self.max_replicas,
            tolerance=self.tolerance,
            scale_up=self.scale_up,
            scale_down=self.scale_down,
        )


PartitionKey = tuple[str, int]


@dataclass(frozen=True)
class KedaState:
    """KEDA's and the HPA's memory between ticks."""

    hpa: hpa.HpaMemory = field(default_factory=hpa.HpaMemory)
    previous_offsets: tuple[tuple[PartitionKey, int], ...] = ()  # the scaler's previousOffsets map
    last_poll_s: float | None = None
    last_sync_s: float | None = None
    last_active_s: float | None = None  # ScaledObject status.lastActiveTime


@dataclass(frozen=True)
class LagReading:
    """What the Kafka scaler reports: the (capped) metric and the lag that decides activity."""

    metric_lag: int
    activity_lag: int
    uncapped_lag: int
    partitions_with_lag: int
    partition_count: int
    capped: bool


def partition_lag(
    p: PartitionOffsets, params: KedaParams, previous: dict[PartitionKey, int]
) -> tuple[int, int]:
    """``getLagForPartition``: (lag for the metric, lag including persistent lag); updates ``previous``."""
    if p.committed_offset is None:
        if params.offset_reset_policy == "latest":
            invalid = 0 if params.scale_to_zero_on_invalid_offset else 1
            return invalid, invalid
        if params.scale_to_zero_on_invalid_offset:
            return 0, 0
        return p.end_offset, p.end_offset  # KEDA counts from offset 0, not from the log start
    lag = p.lag or 0
    if params.exclude_persistent_lag:
        key = (p.topic, p.partition)
        if key in previous and previous[key] == p.committed_offset:
            return 0, lag
        previous[key] = p.committed_offset
    return lag, lag


def read_lag(
    snapshot: Snapshot, params: KedaParams, state: KedaState
) -> tuple[LagReading, tuple[tuple[PartitionKey, int], ...]]:
    """``getTotalLag`` over every partition of the snapshot, with the partition cap."""
    previous = dict(state.previous_offsets)
    total = with_persistent = with_lag = 0
    for p in snapshot.partitions:
        lag, lag_all = partition_lag(p, params, previous)
        total += lag
        with_persistent += lag_all
        with_lag += lag > 0
    metric, capped = total, False
    if not params.allow_idle_consumers or params.limit_to_partitions_with_lag:
        bound = with_lag if params.limit_to_partitions_with_lag else snapshot.partition_count
        if total // params.lag_threshold > bound:
            metric, capped = bound * params.lag_threshold, True
    reading = LagReading(metric, with_persistent, total, with_lag, snapshot.partition_count, capped)
    return reading, tuple(sorted(previous.items()))


@dataclass(frozen=True)
class KedaPolicy:
    """KEDA's Kafka scaler + HPA as one pure ``decide``."""

    params: KedaParams = field(default_factory=KedaParams)
    name: str = "keda"

    def initial_state(self) -> KedaState:
        return KedaState()

    def decide(self, snapshot: Snapshot, state: KedaState) -> tuple[Decision, KedaState]:
        now, current = snapshot.at_s, snapshot.current_replicas
        poll_due = state.last_poll_s is None or now - state.last_poll_s >= self.params.polling_interval_s
        sync_due = state.last_sync_s is None or now - state.last_sync_s >= self.params.hpa_sync_period_s
        if not (poll_due or sync_due):
            detail = "KEDA polls and the HPA syncs on their own intervals; nothing is due"
            return Decision(current, "between_syncs", detail), state
        reading, previous = read_lag(snapshot, self.params, state)
        state = replace(state, previous_offsets=previous)
        cooling = False
        if poll_due:
            decision, state, cooling = self._scale_loop(now, current, reading, state)
            if decision is not None:
                return decision, state
        if sync_due:
            return self._hpa_sync(now, current, reading, state, cooling)
        detail = f"KEDA poll: lag {reading.activity_lag}, {current} replicas, nothing to do"
        return Decision(current, "cooldown" if cooling else "steady", detail), state

    def _scale_loop(
        self, now: float, current: int, reading: LagReading, state: KedaState
    ) -> tuple[Decision | None, KedaState, bool]:
        """KEDA's ``RequestScale``: activation from and deactivation to zero."""
        p = self.params
        state = replace(state, last_poll_s=now)
        active = reading.activity_lag > p.activation_lag_threshold
        activity = f"lag {reading.activity_lag} vs activationLagThreshold {p.activation_lag_threshold}"
        if current == 0 and active:
            target = max(p.min_replicas, 1)
            state = replace(state, last_active_s=now)
            return Decision(target, "scale_from_zero", f"{activity}: active, 0 -> {target}"), state, False
        if not active and current > 0 and p.min_replicas == 0:
            if state.last_active_s is None or state.last_active_s + p.cooldown_period_s < now:
                detail = f"{activity}: inactive for cooldownPeriod {p.cooldown_period_s:g} s, {current} -> 0"
                return Decision(0, "scale_to_zero", detail), state, False
            return None, state, True
        if not active and current < p.min_replicas:
            detail = f"{activity}: inactive below minReplicaCount, {current} -> {p.min_replicas}"
            return Decision(p.min_replicas, "capped_min", detail), state, False
        if active:
            state = replace(state, last_active_s=now)
        if current == 0:
            return Decision(0, "idle_at_zero", f"{activity}: inactive at 0 replicas"), state, False
        return None, state, False

    def _hpa_sync(
        self, now: float, current: int, reading: LagReading, state: KedaState, cooling: bool
    ) -> tuple[Decision, KedaState]:
        p = self.params
        state = replace(state, last_sync_s=now)
        outcome, memory = hpa.reconcile(
            p.hpa_spec, state.hpa, now, current, float(reading.metric_lag), float(p.lag_threshold)
        )
        state = replace(state, hpa=memory)
        reason = _reason(outcome, current, reading, cooling)
        cap = f" (capped at {reading.metric_lag} for {reading.partition_count} partitions)"
        detail = (
            f"total lag {reading.uncapped_lag}{cap if reading.capped else ''} at lagThreshold "
            f"{p.lag_threshold} asks {outcome.metric_desired} replicas; stabilized {outcome.stabilized}, "
            f"HPA {outcome.limit}: {current} -> {outcome.desired}"
        )
        return Decision(outcome.desired, reason, detail), state


_LIMIT_REASONS = {
    "ScaleUpLimit": "capped_rate_limit",
    "ScaleDownLimit": "capped_rate_limit",
    "TooManyReplicas": "capped_max",
    "TooFewReplicas": "capped_min",
    "AboveMax": "capped_max",
    "BelowMin": "capped_min",
}


def _reason(outcome: hpa.HpaOutcome, current: int, reading: LagReading, cooling: bool) -> str:
    if outcome.limit == "ScalingDisabled":
        return "idle_at_zero"
    if outcome.desired != current and outcome.limit in _LIMIT_REASONS:
        return _LIMIT_REASONS[outcome.limit]
    if outcome.desired > current:
        return "capped_partitions" if reading.capped else "scale_up_lag"
    if outcome.desired < current:
        return "scale_down_lag"
    if outcome.stabilized != outcome.metric_desired:
        return "stabilizing"
    if outcome.within_tolerance and outcome.metric_desired == current and reading.metric_lag > 0:
        return "within_tolerance"
    return "cooldown" if cooling else "steady"

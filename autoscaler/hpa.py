"""The Kubernetes HorizontalPodAutoscaler's replica arithmetic, reproduced as pure functions.

Followed line by line from kubernetes ``pkg/controller/podautoscaler``: ``replica_calculator.go``
(``GetExternalPerPodMetricReplicas``: the tolerance band) and ``horizontal.go`` (``reconcileAutoscaler``:
the min/max and disabled-at-zero cases; ``stabilizeRecommendationWithBehaviors``;
``convertDesiredReplicasWithBehaviorRate`` with ``calculateScaleUpLimitWithScalingRules`` /
``calculateScaleDownLimitWithBehaviors`` and ``getReplicasChangePerPeriod``; ``storeScaleEvent``). Defaults
are those of ``pkg/apis/autoscaling/v2/defaults.go`` as the kubernetes.io HPA page lists them ("Default
Behavior"): scale-up without stabilization, +100 % or +4 pods per 15 s, whichever is more; scale-down
with a 300 s stabilization window, -100 % per 15 s; tolerance 0.1
(``--horizontal-pod-autoscaler-tolerance``). The controller's wall clock is replaced by ``now`` (seconds)
and its per-HPA maps by the immutable :class:`HpaMemory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from floodwall.autoscaler.model import prune_before

PolicyKind = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]


@dataclass(frozen=True)
class ScalingPolicy:
    """``HPAScalingPolicy``: change by ``value`` pods or percent within ``period_s``."""

    kind: PolicyKind
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """``HPAScalingRules`` of one direction."""

    stabilization_s: float
    policies: tuple[ScalingPolicy, ...]
    select: SelectPolicy = "Max"


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_s=0, policies=(ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15))
)
DEFAULT_SCALE_DOWN = ScalingRules(stabilization_s=300, policies=(ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class HpaSpec:
    """The parts of a HorizontalPodAutoscaler spec the arithmetic needs (min ≥ 1: an HPA cannot hold 0)."""

    min_replicas: int
    max_replicas: int
    tolerance: float = 0.1
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class HpaMemory:
    """What the controller remembers between syncs: unstabilized recommendations and its scale events."""

    recommendations: tuple[tuple[float, int], ...] = ()
    up_events: tuple[tuple[float, int], ...] = ()
    down_events: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class HpaOutcome:
    """One sync: the replica count to set and what shaped it."""

    desired: int
    metric_desired: int  # from the metric alone (after the tolerance band)
    within_tolerance: bool
    stabilized: int  # after the stabilization windows
    limit: str  # DesiredWithinRange | ScaleUpLimit | TooManyReplicas | ScaleDownLimit | TooFewReplicas |
    # ScalingDisabled | AboveMax | BelowMin


def per_pod_replicas(usage: float, target_per_pod: float, current: int, tolerance: float) -> tuple[int, bool]:
    """``GetExternalPerPodMetricReplicas``: ``ceil(usage / target)`` unless within the tolerance band.

    Returns the replica count and whether the band kept the current count.
    """
    ratio = usage / (target_per_pod * current)
    if abs(1.0 - ratio) > tolerance:
        return math.ceil(usage / target_per_pod), False
    return current, True


def reconcile(
    spec: HpaSpec, memory: HpaMemory, now: float, current: int, usage: float, target_per_pod: float
) -> tuple[HpaOutcome, HpaMemory]:
    """One HPA sync for an external metric of type AverageValue; the scale event is recorded on change."""
    if current == 0:  # minReplicas is never 0 for an HPA: "scaling is disabled since the replica count is 0"
        return HpaOutcome(0, 0, False, 0, "ScalingDisabled"), memory
    if current > spec.max_replicas:
        outcome = HpaOutcome(spec.max_replicas, spec.max_replicas, False, spec.max_replicas, "AboveMax")
        return outcome, _store_event(spec, memory, now, current, spec.max_replicas)
    if current < spec.min_replicas:
        outcome = HpaOutcome(spec.min_replicas, spec.min_replicas, False, spec.min_replicas, "BelowMin")
        return outcome, _store_event(spec, memory, now, current, spec.min_replicas)
    metric_desired, within = per_pod_replicas(usage, target_per_pod, current, spec.tolerance)
    stabilized, memory = _stabilize(spec, memory, now, current, metric_desired)
    desired, limit = _rate_limit(spec, memory, now, current, stabilized)
    outcome = HpaOutcome(desired, metric_desired, within, stabilized, limit)
    return outcome, _store_event(spec, memory, now, current, desired)


def _stabilize(
    spec: HpaSpec, memory: HpaMemory, now: float, current: int, desired: int
) -> tuple[int, HpaMemory]:
    up_cutoff = now - spec.scale_up.stabilization_s
    down_cutoff = now - spec.scale_down.stabilization_s
    up, down = desired, desired
    for at, rec in memory.recommendations:
        if at > up_cutoff:
            up = min(up, rec)
        if at > down_cutoff:
            down = max(down, rec)
    recommendation = max(current, up)
    recommendation = min(recommendation, down)
    # The controller overwrites one sample older than both windows; dropping them all is equivalent (an
    # entry at or before both cutoffs is never read again).
    kept = prune_before(memory.recommendations, min(up_cutoff, down_cutoff))
    return recommendation, replace(memory, recommendations=(*kept, (now, desired)))


def _changed_within(events: tuple[tuple[float, int], ...], now: float, period_s: float) -> int:
    return sum(change for at, change in events if at > now - period_s)


def _period_start(memory: HpaMemory, now: float, current: int, period_s: float) -> int:
    added = _changed_within(memory.up_events, now, period_s)
    deleted = _changed_within(memory.down_events, now, period_s)
    return current - added + deleted


def scale_up_limit(rules: ScalingRules, memory: HpaMemory, now: float, current: int) -> int:
    """``calculateScaleUpLimitWithScalingRules``: the most replicas the policies allow now."""

    def allowed(policy: ScalingPolicy, start: int) -> int:
        if policy.kind == "Pods":
            return start + policy.value
        # Rounded up, or a small percentage would never add a pod.
        return math.ceil(float(start) * (1 + float(policy.value) / 100))

    return _policies_limit(rules, memory, now, current, allowed, least_change=min, most_change=max)


def scale_down_limit(rules: ScalingRules, memory: HpaMemory, now: float, current: int) -> int:
    """``calculateScaleDownLimitWithBehaviors``: the fewest replicas the policies allow now."""

    def allowed(policy: ScalingPolicy, start: int) -> int:
        if policy.kind == "Pods":
            return start - policy.value
        return int(float(start) * (1 - float(policy.value) / 100))  # Go's int32(float) truncates toward zero

    return _policies_limit(rules, memory, now, current, allowed, least_change=max, most_change=min)


def _policies_limit(
    rules: ScalingRules,
    memory: HpaMemory,
    now: float,
    current: int,
    allowed: Callable[[ScalingPolicy, int], int],
    least_change: Callable[[list[int]], int],
    most_change: Callable[[list[int]], int],
) -> int:
    """What both directions share: each policy's limit from the replicas at the start of its period,
    then ``selectPolicy`` (``Min``: the policy allowing the least change, ``Max``: the most; ``Disabled``:
    no change)."""
    if rules.select == "Disabled":
        return current
    proposals = [
        allowed(policy, _period_start(memory, now, current, policy.period_s)) for policy in rules.policies
    ]
    return least_change(proposals) if rules.select == "Min" else most_change(proposals)


def _rate_limit(spec: HpaSpec, memory: HpaMemory, now: float, current: int, desired: int) -> tuple[int, str]:
    if desired > current:
        limit = max(scale_up_limit(spec.scale_up, memory, now, current), current)
        if spec.max_replicas > limit:
            allowed, reason = limit, "ScaleUpLimit"
        else:
            allowed, reason = spec.max_replicas, "TooManyReplicas"
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(scale_down_limit(spec.scale_down, memory, now, current), current)
        if spec.min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
        else:
            allowed, reason = spec.min_replicas, "TooFewReplicas"
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def _longest_period(rules: ScalingRules) -> float:
    return max((p.period_s for p in rules.policies), default=0.0)


def _store_event(spec: HpaSpec, memory: HpaMemory, now: float, before: int, after: int) -> HpaMemory:
    if after > before:
        events = _store(memory.up_events, now, after - before, _longest_period(spec.scale_up))
        return replace(memory, up_events=events)
    if after < before:
        events = _store(memory.down_events, now, before - after, _longest_period(spec.scale_down))
        return replace(memory, down_events=events)
    return memory


def _store(
    events: tuple[tuple[float, int], ...], now: float, change: int, longest_period_s: float
) -> tuple[tuple[float, int], ...]:
    # storeScaleEvent: the last event older than the direction's longest policy period is overwritten,
    # otherwise the event is appended. Older events stay and still count for the other direction's limits.
    outdated = [i for i, (at, _) in enumerate(events) if at < now - longest_period_s]
    if outdated:
        i = outdated[-1]
        return (*events[:i], (now, change), *events[i + 1 :])
    return (*events, (now, change))

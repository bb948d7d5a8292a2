"""The KEDA-compatible policy, rule by rule, against what kafka_scaler.go, KEDA's executor and the HPA do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from floodwall.autoscaler import hpa
from floodwall.autoscaler.model import PartitionOffsets
from floodwall.autoscaler.policy_keda import KedaParams, KedaPolicy, KedaState, partition_lag, read_lag
from tests.unit.autoscale_helpers import run, snap, spread

BIG = KedaParams(min_replicas=1, max_replicas=100)


def decide(params: KedaParams, lags: Sequence[int | None], current: int, at: float = 0.0) -> tuple[int, str]:
    decision, _ = KedaPolicy(params).decide(snap(lags, current=current, at=at), KedaState())
    return decision.desired, decision.reason


# --- missing committed offsets: every offsetResetPolicy x scaleToZeroOnInvalidOffset combination ---------


@pytest.mark.parametrize(
    ("policy", "to_zero", "expected"),
    [
        pytest.param("latest", False, 1, id="latest-counts-1"),
        pytest.param("latest", True, 0, id="latest-scale-to-zero-counts-0"),
        pytest.param("earliest", False, 5000, id="earliest-counts-whole-log-end"),
        pytest.param("earliest", True, 0, id="earliest-scale-to-zero-counts-0"),
    ],
)
def test_invalid_offset_lag(policy: str, to_zero: bool, expected: int) -> None:
    params = KedaParams(offset_reset_policy=policy, scale_to_zero_on_invalid_offset=to_zero)  # type: ignore[arg-type]
    assert partition_lag(PartitionOffsets("orders", 0, 5000, None), params, {}) == (expected, expected)


@pytest.mark.parametrize(
    ("policy", "to_zero", "desired", "reason"),
    [
        pytest.param("latest", False, 1, "scale_from_zero", id="latest-activates"),
        pytest.param("latest", True, 0, "idle_at_zero", id="latest-scale-to-zero-stays-idle"),
        pytest.param("earliest", False, 1, "scale_from_zero", id="earliest-activates"),
        pytest.param("earliest", True, 0, "idle_at_zero", id="earliest-scale-to-zero-stays-idle"),
    ],
)
def test_invalid_offsets_at_zero_replicas(policy: str, to_zero: bool, desired: int, reason: str) -> None:
    params = KedaParams(offset_reset_policy=policy, scale_to_zero_on_invalid_offset=to_zero)  # type: ignore[arg-type]
    assert decide(params, [None] * 12, current=0) == (desired, reason)


@pytest.mark.parametrize(
    ("policy", "current", "desired", "reason"),
    [
        # 12 x lag 1 = 12 -> ceil(12/10) = 2
        pytest.param("latest", 1, 2, "scale_up_lag", id="latest-one-per-partition"),
        # 12 x 5000 -> capped at 12 partitions x 10; the HPA allows 1 -> max(2, 1+4) = 5
        pytest.param("earliest", 1, 5, "capped_rate_limit", id="earliest-drives-to-max-partitions"),
        pytest.param("earliest", 12, 12, "within_tolerance", id="earliest-holds-at-partition-cap"),
    ],
)
def test_invalid_offsets_with_replicas(policy: str, current: int, desired: int, reason: str) -> None:
    params = replace(BIG, offset_reset_policy=policy)  # type: ignore[arg-type]
    lags: list[int | None] = [None] * 12
    parts = tuple(PartitionOffsets("orders", i, 5000, None) for i in range(12))
    decision, _ = KedaPolicy(params).decide(snap(lags, current=current, parts=parts), KedaState())
    assert (decision.desired, decision.reason) == (desired, reason)


# --- the partition cap (allowIdleConsumers=false) and its integer division ---------------------------------


@pytest.mark.parametrize(
    ("params", "total_lag", "current", "desired", "reason"),
    [
        pytest.param(BIG, 1_000_000, 6, 12, "capped_partitions", id="capped-at-partition-count"),
        # 125 // 10 = 12 is not > 12: uncapped, ceil(12.5) = 13 replicas for 12 partitions (KEDA's quirk)
        pytest.param(BIG, 125, 7, 13, "scale_up_lag", id="integer-division-lets-13-through"),
        pytest.param(BIG, 130, 7, 12, "capped_partitions", id="13-times-threshold-is-capped"),
        pytest.param(
            replace(BIG, allow_idle_consumers=True), 1_000_000, 7, 14, "capped_rate_limit", id="idle-allowed"
        ),
    ],
)
def test_partition_cap(params: KedaParams, total_lag: int, current: int, desired: int, reason: str) -> None:
    assert decide(params, list(spread(total_lag)), current) == (desired, reason)


def test_partitions_fewer_than_replicas_scales_down_to_partitions() -> None:
    assert decide(BIG, spread(1_000_000, 3), current=5) == (3, "scale_down_lag")


# --- one hot partition and limitToPartitionsWithLag ---------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "desired", "reason"),
    [
        pytest.param(False, 5, "capped_rate_limit", id="overshoot-towards-12-for-one-hot-partition"),
        pytest.param(True, 1, "within_tolerance", id="limit-to-partitions-with-lag-keeps-1"),
    ],
)
def test_one_hot_partition(limit: bool, desired: int, reason: str) -> None:
    params = replace(BIG, limit_to_partitions_with_lag=limit)
    assert decide(params, [100_000] + [0] * 11, current=1) == (desired, reason)


# --- excludePersistentLag -----------------------------------------------------------------------------------


def test_persistent_lag_is_excluded_from_the_metric_but_not_from_activity() -> None:
    params = replace(BIG, exclude_persistent_lag=True, allow_idle_consumers=True)  # no cap: see raw sums
    first, previous = read_lag(snap([5000] * 12), params, KedaState())
    assert (first.metric_lag, first.activity_lag) == (60_000, 60_000)  # first look: no history yet
    state = KedaState(previous_offsets=previous)
    stuck, previous = read_lag(snap([5000] * 12), params, state)
    assert (stuck.metric_lag, stuck.activity_lag) == (0, 60_000)
    moved = snap(parts=(PartitionOffsets("orders", 0, 7000, 1100), *snap([5000] * 12).partitions[1:]))
    progress, _ = read_lag(moved, params, KedaState(previous_offsets=previous))
    assert (progress.metric_lag, progress.partitions_with_lag) == (5900, 1)


def test_one_stuck_partition_inflates_lag_without_exclusion() -> None:
    lags = [50_000] + [0] * 11
    plain, previous = read_lag(snap(lags), BIG, KedaState())
    again, _ = read_lag(snap(lags), BIG, KedaState(previous_offsets=previous))
    assert plain.metric_lag == again.metric_lag == 120  # capped, every poll: the stuck partition keeps it up


# --- the HPA: tolerance, stabilization, step limits


@pytest.mark.parametrize(
    ("total_lag", "desired", "reason"),
    [
        pytest.param(105, 10, "within_tolerance", id="5pc-over-target-ignored"),
        pytest.param(95, 10, "within_tolerance", id="5pc-under-target-ignored"),
        pytest.param(115, 12, "scale_up_lag", id="15pc-over-scales-up"),
        pytest.param(85, 9, "scale_down_lag", id="15pc-under-scales-down-without-history"),
    ],
)
def test_tolerance(total_lag: int, desired: int, reason: str) -> None:
    assert decide(BIG, spread(total_lag), current=10) == (desired, reason)


def test_scale_down_waits_for_the_stabilization_window() -> None:
    ticks = [snap(spread(100), at=0, current=10)] + [snap(spread(20), at=t) for t in range(15, 331, 15)]
    decisions = run(KedaPolicy(BIG), ticks)
    by_time = dict(zip(range(0, 331, 15), decisions, strict=True))
    assert all(by_time[t].desired == 10 for t in range(0, 300, 15))
    assert by_time[15].reason == "stabilizing"
    assert (by_time[300].desired, by_time[300].reason) == (2, "scale_down_lag")


def test_scale_up_steps_double_or_add_four_per_15_s() -> None:
    ticks = [snap(spread(10_000_000, 100), at=t, current=1) for t in range(0, 91, 15)]
    assert [d.desired for d in run(KedaPolicy(BIG), ticks)] == [5, 10, 20, 40, 80, 100, 100]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param(hpa.DEFAULT_SCALE_UP, 5, id="max-of-100pc-and-4-pods"),
        pytest.param(replace(hpa.DEFAULT_SCALE_UP, select="Min"), 2, id="min-of-100pc-and-4-pods"),
        pytest.param(replace(hpa.DEFAULT_SCALE_UP, select="Disabled"), 1, id="disabled"),
    ],
)
def test_scale_up_select_policy(rules: hpa.ScalingRules, expected: int) -> None:
    spec = hpa.HpaSpec(min_replicas=1, max_replicas=100, scale_up=rules)
    outcome, _ = hpa.reconcile(spec, hpa.HpaMemory(), 0.0, 1, 1_000_000.0, 10.0)
    assert outcome.desired == expected


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        pytest.param("Max", 5, id="max-change-of-50pc-and-1-pod"),
        pytest.param("Min", 9, id="min-change-of-50pc-and-1-pod"),
        pytest.param("Disabled", 10, id="disabled"),
    ],
)
def test_scale_down_select_policy(select: hpa.SelectPolicy, expected: int) -> None:
    policies = (hpa.ScalingPolicy("Percent", 50, 15), hpa.ScalingPolicy("Pods", 1, 15))
    down = hpa.ScalingRules(stabilization_s=0, policies=policies, select=select)
    spec = hpa.HpaSpec(min_replicas=1, max_replicas=100, scale_down=down)
    outcome, _ = hpa.reconcile(spec, hpa.HpaMemory(), 0.0, 10, 20.0, 10.0)
    assert outcome.desired == expected


def test_scale_up_within_the_period_counts_earlier_events() -> None:
    spec = hpa.HpaSpec(min_replicas=1, max_replicas=100)
    first, memory = hpa.reconcile(spec, hpa.HpaMemory(), 0.0, 1, 1_000_000.0, 10.0)
    again, _ = hpa.reconcile(spec, memory, 10.0, first.desired, 1_000_000.0, 10.0)
    later, _ = hpa.reconcile(spec, memory, 16.0, first.desired, 1_000_000.0, 10.0)
    assert (first.desired, again.desired, again.limit, later.desired) == (5, 5, "ScaleUpLimit", 10)


def test_scale_down_pods_policy_limits_the_step() -> None:
    down = hpa.ScalingRules(stabilization_s=0, policies=(hpa.ScalingPolicy("Pods", 1, 15),))
    spec = hpa.HpaSpec(min_replicas=1, max_replicas=100, scale_down=down)
    outcome, _ = hpa.reconcile(spec, hpa.HpaMemory(), 0.0, 10, 20.0, 10.0)
    assert (outcome.metric_desired, outcome.desired, outcome.limit) == (2, 9, "ScaleDownLimit")


# --- KEDA's own loop: activation, cooldown, min/max, cadence


def test_scale_to_zero_only_after_cooldown() -> None:
    params = KedaParams(min_replicas=0, max_replicas=100)
    ticks = [snap(spread(30), at=0, current=3)] + [snap([0] * 12, at=t) for t in range(15, 346, 15)]
    by_time = dict(zip(range(0, 346, 15), run(KedaPolicy(params), ticks), strict=True))
    assert by_time[285].desired == 3 and by_time[300].desired == 1  # the HPA, after its 300 s window
    assert (by_time[300].reason, by_time[330].reason) == ("capped_min", "scale_to_zero")
    assert by_time[330].desired == 0 and by_time[345].desired == 0


def test_inactive_without_history_scales_to_zero_at_once() -> None:
    assert decide(KedaParams(min_replicas=0), [0] * 12, current=4) == (0, "scale_to_zero")


@pytest.mark.parametrize(
    ("params", "lags", "current", "desired", "reason"),
    [
        pytest.param(replace(BIG, max_replicas=10), spread(30), 20, 10, "capped_max", id="above-max"),
        pytest.param(replace(BIG, min_replicas=3), spread(10), 1, 3, "capped_min", id="below-min"),
        pytest.param(replace(BIG, min_replicas=0), spread(120), 0, 1, "scale_from_zero", id="from-zero-to-1"),
        pytest.param(
            replace(BIG, min_replicas=2), spread(120), 0, 2, "scale_from_zero", id="from-zero-to-min"
        ),
        pytest.param(
            replace(BIG, min_replicas=0, activation_lag_threshold=500),
            spread(400),
            0,
            0,
            "idle_at_zero",
            id="below-activation-threshold",
        ),
    ],
)
def test_min_max_and_activation(
    params: KedaParams, lags: list[int], current: int, desired: int, reason: str
) -> None:
    assert decide(params, list(lags), current) == (desired, reason)


def test_nothing_happens_between_polls_and_syncs() -> None:
    decisions = run(KedaPolicy(BIG), [snap(spread(50), at=0, current=5), snap(spread(500_000), at=5)])
    assert (decisions[1].desired, decisions[1].reason) == (5, "between_syncs")


def test_decide_is_pure() -> None:
    policy, state, s = KedaPolicy(replace(BIG, exclude_persistent_lag=True)), KedaState(), snap(spread(900))
    assert policy.decide(s, state) == policy.decide(s, state)
    assert state == KedaState()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"lag_threshold": 0}, id="threshold-0"),
        pytest.param({"activation_lag_threshold": -1}, id="negative-activation"),
        pytest.param(
            {"allow_idle_consumers": True, "limit_to_partitions_with_lag": True}, id="idle-and-limit"
        ),
        pytest.param({"min_replicas": 5, "max_replicas": 4}, id="min-above-max"),
    ],
)
def test_invalid_parameters_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        KedaParams(**bad)  # type: ignore[arg-type]

"""The Floodwall policy, rule by rule: sizing by rate, caps, the database hold, hysteresis and zero."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import pytest

from floodwall.autoscaler.model import DbHealth, PartitionOffsets
from floodwall.autoscaler.policy_floodwall import FloodwallParams, FloodwallPolicy, FloodwallState
from tests.unit.autoscale_helpers import run, snap, spread

# The rules are tested on numbers of their own (a 120 s window stretching to at most 600 s, a 9.3 s lead),
# not on the shipped defaults: a change of default must not silently rewrite what a rule is shown to do.
DEFAULT = FloodwallParams(scale_down_window_s=120.0, scale_down_window_max_s=600.0, scale_up_lead_s=9.3)
BUDGET = replace(DEFAULT, write_budget_rows_per_s=100_000)  # 20,000 events/s at 5 rows/event
LONG_AGO = FloodwallState(last_change_s=-10_000.0)


def decide(
    params: FloodwallParams = DEFAULT,
    lags: Sequence[int | None] | None = None,
    *,
    current: int = 1,
    ingress: float = 0.0,
    throughput: float | None = None,
    db: DbHealth | None = None,
    state: FloodwallState = LONG_AGO,
) -> tuple[int, str]:
    extra = {} if db is None else {"db": db}
    s = snap(lags or [0] * 12, current=current, ingress=ingress, throughput=throughput, **extra)  # type: ignore[arg-type]
    decision, _ = FloodwallPolicy(params).decide(s, state)
    return decision.desired, decision.reason


# --- sizing by rate -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ingress", "lag", "throughput", "desired", "reason"),
    [
        pytest.param(20_000, 0, 8_000, 3, "scale_up_ingress", id="ingress-20k-at-8k-each"),
        pytest.param(20_000, 0, 4_000, 5, "scale_up_ingress", id="slower-measured-replicas-need-more"),
        pytest.param(20_000, 0, None, 3, "scale_up_ingress", id="estimate-7900-when-unmeasured"),
        # 1,000/s + 600,000 / 60 s = 11,000/s -> 2 replicas; the ingress alone fits in the one running
        pytest.param(1_000, 600_000, None, 2, "scale_up_backlog", id="backlog-over-target-drain"),
        pytest.param(7_000, 0, None, 1, "steady", id="one-replica-keeps-up"),
    ],
)
def test_size_by_ingress_and_backlog(
    ingress: float, lag: int, throughput: float | None, desired: int, reason: str
) -> None:
    assert decide(lags=spread(lag), ingress=ingress, throughput=throughput) == (desired, reason)


def test_detail_names_the_numbers_and_the_throughput_source() -> None:
    decision, _ = FloodwallPolicy(DEFAULT).decide(snap(spread(600_000), ingress=1_000), LONG_AGO)
    assert "ingress 1,000/s" in decision.detail and "lag 600,000" in decision.detail
    assert "(estimated)" in decision.detail and "1 -> 2" in decision.detail


# --- caps


@pytest.mark.parametrize(
    ("params", "lags", "current", "ingress", "desired", "reason"),
    [
        # budget 20,000 events/s feeds ceil(20,000 / 7,900) = 3 replicas, however much is asked
        pytest.param(BUDGET, [0] * 12, 1, 50_000, 3, "capped_budget", id="budget-caps-scale-up"),
        pytest.param(BUDGET, [0] * 12, 6, 1_000, 3, "capped_budget", id="over-budget-cap-drops-at-once"),
        pytest.param(
            replace(BUDGET, write_budget_rows_per_s=10_000),
            [0] * 12,
            1,
            50_000,
            1,
            "capped_budget",
            id="budget-below-one-replica-still-runs-one",
        ),
        # one hot partition: 1,000/s + 1,000,000 / 60 = 17,667/s asks 3, but only one partition has lag
        pytest.param(
            DEFAULT, [1_000_000] + [0] * 11, 1, 1_000, 1, "capped_partitions", id="one-hot-partition"
        ),
        pytest.param(
            DEFAULT,
            [1_000_000] + [0] * 11,
            1,
            20_000,
            3,
            "capped_partitions",
            id="hot-partition-but-ingress-needs-3",
        ),
        pytest.param(
            DEFAULT, spread(3_000_000, 3), 1, 0, 3, "capped_partitions", id="partitions-fewer-than-asked"
        ),
        pytest.param(
            replace(DEFAULT, max_replicas=4), [0] * 12, 1, 100_000, 4, "capped_max", id="max-replicas"
        ),
        pytest.param(
            replace(DEFAULT, max_replicas=4), [0] * 12, 9, 1_000, 4, "capped_max", id="over-max-drops"
        ),
        pytest.param(replace(DEFAULT, min_replicas=2), [0] * 12, 2, 0, 2, "floor_min", id="min-replicas"),
        pytest.param(
            replace(BUDGET, min_replicas=4),
            [0] * 12,
            4,
            50_000,
            4,
            "floor_min",
            id="min-replicas-beat-budget",
        ),
    ],
)
def test_caps(
    params: FloodwallParams, lags: list[int | None], current: int, ingress: float, desired: int, reason: str
) -> None:
    assert decide(params, lags, current=current, ingress=ingress) == (desired, reason)


# --- the database hold


@pytest.mark.parametrize(
    "db",
    [
        pytest.param(DbHealth(False, True, "Patroni failover"), id="failing-over"),
        pytest.param(DbHealth(False, False, "no primary"), id="primary-down"),
        pytest.param(DbHealth(True, True, "switchover"), id="healthy-but-failing-over"),
    ],
)
@pytest.mark.parametrize("current", [0, 2, 5])
def test_hold_while_the_database_cannot_write(db: DbHealth, current: int) -> None:
    desired, reason = decide(BUDGET, spread(3_000_000), current=current, ingress=30_000, db=db)
    assert (desired, reason) == (current, "hold_db_unhealthy")


# --- hysteresis


def test_dead_band_keeps_a_replica_that_would_leave_too_little_headroom() -> None:
    # 14,000/s fits 2 replicas (15,800/s) but not with 20 % headroom (12,640/s): keep 3
    assert decide(current=3, ingress=14_000) == (3, "hold_dead_band")
    assert decide(current=3, ingress=12_000) == (2, "scale_down")


def test_no_scale_down_within_the_window_after_a_change() -> None:
    ticks = [snap(at=t, current=3, ingress=1_000) for t in range(0, 121, 5)]
    decisions = run(FloodwallPolicy(DEFAULT), ticks)  # the start counts as a change
    assert all(d.desired == 3 and d.reason == "stabilizing" for d in decisions[:-1])
    assert (decisions[-1].desired, decisions[-1].reason) == (1, "scale_down")


def test_scale_down_goes_only_to_the_highest_recommendation_in_the_window() -> None:
    rates = {0: 14_000, 60: 9_000, 130: 1_000, 190: 1_000}
    decisions = run(FloodwallPolicy(DEFAULT), [snap(at=t, current=1, ingress=r) for t, r in rates.items()])
    assert [(d.desired, d.reason) for d in decisions] == [
        (2, "scale_up_ingress"),
        (2, "steady"),
        (2, "stabilizing"),  # 2 was recommended at t=60, within 120 s
        (1, "scale_down"),
    ]


def test_a_scale_up_leaves_the_dead_band_headroom() -> None:
    # 14,000/s with every partition behind fits 2 replicas (15,800/s) but without 20 % headroom: the next
    # tick's noise or the rest of a ramp would ask for a third, a second rebalance. Up to 3 at once.
    assert decide(lags=spread(1_200), ingress=14_000) == (3, "scale_up_ingress")
    no_band = replace(DEFAULT, scale_down_dead_band=0)
    assert decide(no_band, lags=spread(1_200), ingress=14_000) == (2, "scale_up_ingress")


def test_a_falling_need_is_stepped_down_once_not_in_a_staircase() -> None:
    # 3 replicas; the need falls through 2 (t=20) to 1 (t=40 on). At t=125 the window (120 s) would allow
    # 2, and 1 only 15 s later: waiting for it makes one rebalance of the two a staircase would.
    rates = {0: 14_000, 20: 9_000, 40: 1_000, 125: 1_000, 140: 1_000}
    ticks = [snap(spread(1_200), at=t, current=3, ingress=r) for t, r in rates.items()]
    decisions = run(FloodwallPolicy(DEFAULT), ticks, LONG_AGO)
    assert [(d.desired, d.reason) for d in decisions] == [
        (3, "hold_dead_band"),
        (3, "stabilizing"),
        (3, "stabilizing"),
        (3, "settling"),
        (1, "scale_down"),
    ]


def test_a_need_that_settled_in_between_is_stepped_to() -> None:
    # 2 was needed from t=20 to t=100: the window's end (t=220 for the last 2) is more than half a window
    # away at t=125, so the fleet steps to 2 now rather than hold 3 for another 95 s.
    rates = {0: 14_000, 20: 9_000, 60: 9_000, 100: 9_000, 110: 1_000, 125: 1_000}
    ticks = [snap(spread(1_200), at=t, current=3, ingress=r) for t, r in rates.items()]
    decisions = run(FloodwallPolicy(DEFAULT), ticks, LONG_AGO)
    assert (decisions[-1].desired, decisions[-1].reason) == (2, "scale_down")


def test_scale_down_in_steps_when_configured() -> None:
    params = replace(DEFAULT, scale_down_max_fraction=0.5)
    ticks = [snap(at=t, current=8) for t in (0, 120, 240, 360)]
    assert [d.desired for d in run(FloodwallPolicy(params), ticks, LONG_AGO)] == [4, 2, 1, 1]
    assert decide(params, current=8) == (4, "scale_down_step")


def test_no_flapping_on_a_noisy_rate_around_one_replica() -> None:
    rates = [7_000, 8_400, 7_200, 8_100, 6_900, 8_300] * 10
    decisions = run(FloodwallPolicy(DEFAULT), [snap(at=5 * i, ingress=r) for i, r in enumerate(rates)])
    held = decisions[1:]
    changes = sum(1 for a, b in itertools.pairwise(held) if a.desired != b.desired)
    assert decisions[1].desired == 2 and changes == 0  # up once when 8,400/s outran one replica, then held


# --- zero


ZERO = replace(DEFAULT, min_replicas=0, activation_lag_threshold=500)


@pytest.mark.parametrize(
    ("lags", "ingress", "desired", "reason"),
    [
        pytest.param(spread(400), 0, 0, "idle_at_zero", id="lag-below-activation"),
        pytest.param(spread(600), 0, 1, "scale_from_zero", id="lag-above-activation"),
        pytest.param(spread(120_000), 20_000, 3, "scale_from_zero", id="straight-to-the-rate-aware-count"),
        pytest.param([None] * 12, 100, 1, "scale_from_zero", id="no-committed-offset-and-events-arriving"),
        pytest.param([None] * 12, 0, 0, "idle_at_zero", id="no-committed-offset-no-events"),
    ],
)
def test_from_zero(lags: list[int | None], ingress: float, desired: int, reason: str) -> None:
    assert decide(ZERO, lags, current=0, ingress=ingress) == (desired, reason)


def test_to_zero_after_a_whole_idle_window() -> None:
    idle = [snap(at=t, current=1) for t in range(0, 121, 30)]
    decisions = run(FloodwallPolicy(ZERO), idle)
    assert [d.desired for d in decisions] == [1, 1, 1, 1, 0] and decisions[-1].reason == "scale_to_zero"
    interrupted = [
        *idle[:3],
        snap(at=90, current=1, ingress=50),
        snap(at=120, current=1),
        snap(at=240, current=1),
    ]
    assert [d.desired for d in run(FloodwallPolicy(ZERO), interrupted)] == [1, 1, 1, 1, 1, 0]


def test_min_replicas_above_zero_never_scales_to_zero() -> None:
    decisions = run(FloodwallPolicy(DEFAULT), [snap(at=t, current=1) for t in range(0, 601, 60)])
    assert {d.desired for d in decisions} == {1}


# --- contract


def test_decide_is_pure() -> None:
    policy, state = FloodwallPolicy(BUDGET), FloodwallState()
    s = snap(spread(900_000), at=40, current=2, ingress=12_000, throughput=7_800)
    assert policy.decide(s, state) == policy.decide(s, state)
    assert state == FloodwallState()


def test_topics_cap_at_the_largest_topic() -> None:
    two_topics = tuple(PartitionOffsets(t, i, 10**6, 0) for t in ("orders", "inventory") for i in range(12))
    decision, _ = FloodwallPolicy(DEFAULT).decide(snap(parts=two_topics, ingress=0), LONG_AGO)
    assert (decision.desired, decision.reason) == (12, "capped_partitions")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"min_replicas": 3, "max_replicas": 2}, id="min-above-max"),
        pytest.param({"target_drain_s": 0}, id="no-drain-time"),
        pytest.param({"scale_down_dead_band": 1.0}, id="dead-band-100pc"),
        pytest.param({"scale_down_max_fraction": 0}, id="no-step"),
    ],
)
def test_invalid_parameters_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FloodwallParams(**bad)  # type: ignore[arg-type]


# --- ramps and drains


def test_a_rising_ingress_is_sized_for_when_new_replicas_will_work() -> None:
    # 1,000/s then 8,250/s five seconds later: at that slope the rate is ~23,600/s by the time replicas
    # started now work and the next tick could correct them (9.3 s): 3 replicas at once, not 2 then 3.
    ticks = [snap(at=0, ingress=1_000), snap(at=5, ingress=8_250)]
    assert [(d.desired, d.reason) for d in run(FloodwallPolicy(DEFAULT), ticks)] == [
        (1, "steady"),
        (3, "scale_up_ingress"),
    ]
    flat = replace(DEFAULT, scale_up_lead_s=0)
    assert run(FloodwallPolicy(flat), ticks)[-1].desired == 2


def test_a_saturated_replica_falling_behind_is_an_overrun() -> None:
    # The window's average ingress (6,000/s, a steep rise averaged over 5 s) fits the one replica, but it
    # ran at its limit and the backlog grew: the rise has overrun it already, so it is projected —
    # 6,000 + 1,000/s x 9.3 s + 12,000 / 60 s = 15,500/s, 3 replicas with the dead band's headroom.
    behind = snap(spread(12_000), at=5, ingress=6_000, egress=4_000, throughput=7_900)
    ticks = [snap(at=0, ingress=1_000), behind]
    last = run(FloodwallPolicy(DEFAULT), ticks)[-1]
    assert (last.desired, last.reason) == (3, "scale_up_ingress")
    keeping_up = replace(behind, replica_throughput_events_per_s=None)  # no replica at its limit
    assert [d.desired for d in run(FloodwallPolicy(DEFAULT), [ticks[0], keeping_up])] == [1, 1]


def test_a_falling_ingress_is_not_projected() -> None:
    ticks = [snap(at=0, ingress=20_000, current=3), snap(at=5, ingress=12_000, current=3)]
    assert (
        "needs 12,000 events/s" in run(FloodwallPolicy(DEFAULT), ticks, LONG_AGO)[-1].detail
    )  # not extrapolated down


def test_no_replica_is_removed_while_the_backlog_sets_the_size() -> None:
    # 1,000/s needs 1 replica, but 600,000 behind at a 60 s target needs 2: keep all 3 until drained
    assert decide(DEFAULT, spread(600_000), current=3, ingress=1_000) == (3, "hold_draining")


def test_a_backlog_nothing_consumes_is_not_held_for() -> None:
    # 8 replicas, no ingress, 40 events that the fleet does not move (a refused advisory commit left
    # Kafka's lag stale): no drain to protect, so the fleet falls back once the window has passed
    stuck = [snap(spread(40), at=t, current=8, egress=0.0) for t in (0, 5, 130, 135)]
    decisions = run(FloodwallPolicy(DEFAULT), stuck, LONG_AGO)
    assert "hold_draining" not in [d.reason for d in decisions]
    assert decisions[-1].desired == 1
    consuming = [snap(spread(40), at=t, current=8, egress=10.0) for t in (0, 5, 130, 135)]
    assert [d.reason for d in run(FloodwallPolicy(DEFAULT), consuming, LONG_AGO)] == ["hold_draining"] * 4


def test_the_window_restarts_when_a_drain_ends() -> None:
    draining = [snap(spread(600_000), at=t, current=3, ingress=1_000) for t in (0, 5)]
    drained = [snap(at=t, current=3, ingress=1_000) for t in (10, 60, 129, 130)]
    decisions = run(FloodwallPolicy(DEFAULT), draining + drained, LONG_AGO)
    reasons = ["hold_draining"] * 2 + ["stabilizing"] * 3 + ["scale_down"]
    assert [d.reason for d in decisions] == reasons
    assert decisions[-1].desired == 1  # one step: the drain's recommendations no longer count


def test_a_replica_cap_bounds_the_throughput_so_the_budget_needs_several_replicas() -> None:
    # 3,000 rows/s at 3 rows/event is 1,000 events/s; each replica may write 1,000 rows/s (333 events/s):
    # however fast one replica measured, the budget is fed by 3 of them.
    capped = replace(
        DEFAULT, write_budget_rows_per_s=3_000, rows_per_event=3, replica_max_events_per_s=1_000 / 3
    )
    assert decide(capped, lags=spread(100_000), ingress=5_000, throughput=18_000) == (3, "capped_budget")
    assert decide(replace(capped, replica_max_events_per_s=0), lags=spread(100_000), ingress=5_000,
                  throughput=18_000) == (1, "steady")  # fmt: skip
    # Replicas measured slower than the cap while they join: the budget still feeds 3, not 7.
    assert decide(capped, lags=spread(100_000), ingress=5_000, throughput=150) == (3, "capped_budget")


def test_a_single_step_the_running_replicas_absorb_is_not_projected() -> None:
    # 310 events/s per replica. Traffic switching on with a burst of restocks (298/s), then noise
    # (144/s, 185/s): one replica absorbs each step; projected over the 9.3 s lead they would ask for
    # 3, then 2 replicas.
    slow = replace(DEFAULT, replica_throughput_events_per_s=310)
    warm_up = [
        snap(at=0, ingress=0),
        snap(at=2, ingress=298),
        snap(at=4, ingress=144),
        snap(at=6, ingress=185),
    ]
    assert [d.desired for d in run(FloodwallPolicy(slow), warm_up)] == [1, 1, 1, 1]
    # Two rises of at least a quarter of a replica in a row are a ramp: 240 + 40/s x 9.3 s = 612/s, 2
    # replicas where 240/s alone needs 1.
    ramp = [snap(at=0, ingress=80), snap(at=2, ingress=160), snap(at=4, ingress=240)]
    assert [d.desired for d in run(FloodwallPolicy(slow), ramp)] == [1, 1, 2]


# --- recurring bursts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale_ups", "window"),
    [
        pytest.param((), 120, id="no-scale-up-yet"),
        pytest.param((300.0,), 120, id="one-burst-says-nothing-of-the-next"),
        pytest.param((100.0, 300.0), 250, id="bursts-200-s-apart-hold-1.25x-that"),
        pytest.param((100.0, 150.0), 120, id="never-shorter-than-the-window"),
        pytest.param((0.0, 550.0), 600, id="stretched-at-most-to-the-maximum"),
        pytest.param((0.0, 800.0), 120, id="bursts-further-apart-than-the-maximum-do-not-stretch"),
    ],
)
def test_the_scale_down_window_stretches_for_bursts_that_recur(
    scale_ups: tuple[float, ...], window: float
) -> None:
    assert FloodwallPolicy(DEFAULT).window_s(replace(LONG_AGO, scale_ups=scale_ups)) == window


def test_scale_ups_are_remembered_and_a_stretched_window_keeps_the_replicas_through_the_lull() -> None:
    policy = FloodwallPolicy(DEFAULT)
    state = replace(LONG_AGO, scale_ups=(0.0, 200.0))  # two bursts 200 s apart: a 250 s window
    s = snap([0] * 12, current=3, ingress=1_000, at=450.0)  # 250 s after the last change: the window
    decision, _ = policy.decide(s, replace(state, last_change_s=210.0))
    assert (decision.desired, decision.reason) == (3, "stabilizing")
    unstretched = replace(DEFAULT, scale_down_window_max_s=DEFAULT.scale_down_window_s)
    decision, _ = FloodwallPolicy(unstretched).decide(s, replace(state, last_change_s=210.0))
    assert decision.desired == 1  # the plain 120 s window has passed: down at once
    up, after = policy.decide(snap([0] * 12, current=1, ingress=20_000, at=700.0), state)
    assert up.desired == 3 and after.scale_ups == (0.0, 200.0, 700.0)


def test_a_lost_replica_replaced_is_not_a_burst() -> None:
    policy = FloodwallPolicy(DEFAULT)
    _, state = policy.decide(snap([0] * 12, current=1, ingress=20_000, at=10.0), LONG_AGO)
    assert state.scale_ups == (10.0,) and state.last_desired == 3
    _, state = policy.decide(snap([0] * 12, current=2, ingress=20_000, at=15.0), state)  # one was killed
    assert state.scale_ups == (10.0,)  # back to 3: a replacement, not rising demand

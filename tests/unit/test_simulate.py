"""The fleet model, the simulator, the traces and ``floodwall autoscale simulate``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from floodwall.autoscaler.calibration import MEASURED, PROTOCOLS
from floodwall.autoscaler.commands import sim_params
from floodwall.autoscaler.config import AutoscalerSettings, SimulationSettings, build_policy
from floodwall.autoscaler.fleetmodel import FleetParams
from floodwall.autoscaler.model import Decision, Snapshot
from floodwall.autoscaler.simulate import SimParams, SimResult, compare, simulate
from floodwall.autoscaler.traces import load_trace, parse_trace, shipped_names
from floodwall.errors import ConfigError
from floodwall.settings import load_settings
from tests.helpers import floodwall

SETTINGS = AutoscalerSettings(write_budget_rows_per_s=100_000)
POLICIES = [build_policy(SETTINGS, "floodwall"), build_policy(SETTINGS, "keda")]


@dataclass(frozen=True)
class Scripted:
    """A policy that asks for fixed replica counts from given times on, and records what it saw."""

    plan: tuple[tuple[float, int], ...]
    seen: list[Snapshot] = field(default_factory=list, compare=False)
    name: str = "scripted"

    def initial_state(self) -> list[Snapshot]:
        return self.seen

    def decide(self, snapshot: Snapshot, state: list[Snapshot]) -> tuple[Decision, list[Snapshot]]:
        state.append(snapshot)
        desired = snapshot.current_replicas
        for at, replicas in self.plan:
            if snapshot.at_s >= at:
                desired = replicas
        return Decision(desired, "scripted", ""), state


def constant(rate: float, seconds: int) -> str:
    return f"t_s,events_per_s\n0,{rate}\n{seconds},{rate}\n"


# --- conservation and determinism


@pytest.mark.parametrize("trace", shipped_names())
@pytest.mark.parametrize("mode", ["as-deployed", "enforcing", "unenforced"])
def test_events_in_equal_applied_plus_lag_at_every_second(trace: str, mode: str) -> None:
    for result in compare(POLICIES, load_trace(trace), SimParams(), mode):
        arrived = applied = 0
        for tick in result.ticks:
            arrived, applied = arrived + tick.arrived, applied + tick.applied
            assert arrived == applied + tick.lag, (result.policy, tick.t)
        assert result.events_in == arrived and result.events_applied == applied


def test_arrivals_follow_the_trace() -> None:
    trace = load_trace("flash-sale")
    result = simulate(POLICIES[0], trace, SimParams())
    expected = sum(trace.events_between(t, t + 1) for t in range(trace.duration_s))
    assert abs(result.events_in - expected) < 1
    assert [t.arrived for t in result.ticks[:3]] == [1000, 1000, 1000]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_deterministic(policy: object) -> None:
    trace = load_trace("failover")
    first, second = simulate(policy, trace, SimParams()), simulate(policy, trace, SimParams())  # type: ignore[arg-type]
    assert first == second


# --- the fleet model: start-up delay, rebalance pause, partitions, budget, failover


def run_scripted(plan: tuple[tuple[float, int], ...], fleet: FleetParams, rate: float = 50_000) -> SimResult:
    trace = parse_trace(constant(rate, 60), "constant")
    return simulate(Scripted(plan), trace, SimParams(fleet=fleet, tick_s=1))


def test_start_up_delay_then_a_group_wide_pause() -> None:
    fleet = FleetParams(write_budget_rows_per_s=0, startup_s=2.0, join_pause_s=3.3)
    ticks = run_scripted(((10, 2),), fleet).ticks
    applied = [t.applied for t in ticks]
    assert applied[9:12] == [7900, 7900, 7900]  # scaled at t=10; the new member joins at t=12
    assert applied[12:15] == [0, 0, 0]  # the rebalance stops everyone: 12.0 .. 15.3
    assert abs(applied[15] - 2 * 7900 * 0.7) <= 2  # both consume for the last 0.7 s of that second
    assert applied[16:20] == [15800] * 4
    assert ticks[13].paused_fraction == 1.0 and ticks[15].paused_fraction == pytest.approx(0.3)


def test_scale_down_pauses_the_survivors() -> None:
    fleet = FleetParams(write_budget_rows_per_s=0, leave_pause_s=3.0)
    applied = [t.applied for t in run_scripted(((0, 3), (20, 1)), fleet).ticks]
    assert applied[19] == 3 * 7900 and applied[20:23] == [0, 0, 0] and applied[23] == 7900


def test_the_protocol_picks_its_measured_rebalance_costs() -> None:
    for protocol in PROTOCOLS:
        sim = load_settings(SimulationSettings, {"protocol": protocol})
        fleet = sim_params(sim, AutoscalerSettings()).fleet
        measured = MEASURED[protocol]
        assert (fleet.startup_s, fleet.join_pause_s, fleet.leave_pause_s) == (
            measured.startup_s, measured.join_pause_s, measured.leave_pause_s)  # fmt: skip
    assert MEASURED["classic"] != MEASURED["consumer"]  # two measurements, not one copied
    mine = load_settings(SimulationSettings, {"protocol": "consumer", "join_pause_s": 9.0})
    assert sim_params(mine, AutoscalerSettings()).fleet.join_pause_s == 9.0  # an explicit figure wins
    assert sim_params(mine, AutoscalerSettings()).fleet.leave_pause_s == MEASURED["consumer"].leave_pause_s
    kip848 = floodwall("autoscale", "simulate", "--trace", "steady", "--protocol", "consumer")
    assert kip848.returncode == 0 and "(consumer protocol)" in kip848.stdout.splitlines()[1]


def test_replicas_beyond_the_partitions_idle() -> None:
    fleet = FleetParams(partitions=2, write_budget_rows_per_s=0, startup_s=0, join_pause_s=0, leave_pause_s=0)
    ticks = run_scripted(((0, 4),), fleet).ticks
    assert max(t.applied for t in ticks) == 2 * 7900 and ticks[-1].replicas == 4


@pytest.mark.parametrize(
    ("enforce", "max_applied", "over_budget"),
    [
        pytest.param(True, 20_000, False, id="enforcing-consumers-stay-within-budget"),
        pytest.param(False, 20_000, True, id="unenforced-demand-over-budget-db-absorbs-budget"),
    ],
)
def test_write_budget(enforce: bool, max_applied: int, over_budget: bool) -> None:
    fleet = FleetParams(startup_s=0, join_pause_s=0, leave_pause_s=0, enforce_budget=enforce)
    ticks = run_scripted(((0, 6),), fleet).ticks[5:]
    assert max(t.applied for t in ticks) <= max_applied
    assert max(t.applied for t in ticks) >= max_applied - 12  # whole events per partition share
    assert all(t.over_budget == over_budget for t in ticks)
    assert max(t.demanded_rows for t in ticks) == (
        6 * 7900 * 5 if not enforce else pytest.approx(100_000, abs=60)
    )


def test_nothing_is_applied_while_the_primary_is_down() -> None:
    result = simulate(Scripted(()), load_trace("failover"), SimParams())
    assert [t.applied for t in result.ticks[200:210]] == [0] * 10
    assert result.ticks[199].applied > 0 and result.ticks[210].applied > 0


# --- what the policies are shown


def test_snapshots_are_measured_like_the_daemon_measures() -> None:
    policy = Scripted(())
    trace = parse_trace(constant(3_000, 30), "constant")
    simulate(policy, trace, SimParams(fleet=FleetParams(write_budget_rows_per_s=0), tick_s=5))
    first, later = policy.seen[0], policy.seen[3]
    assert first.ingress_events_per_s is None and first.egress_events_per_s is None
    assert later.at_s == 15 and later.ingress_events_per_s == 3000 and later.egress_events_per_s == 3000
    assert (
        later.total_lag == 12 * 50
    )  # 0.2 s of arrivals still in flight, like committed offsets in production
    assert later.replica_throughput_events_per_s is None  # never saturated: nothing to measure
    assert later.partition_count == 12 and later.db.writable


@pytest.mark.parametrize(
    ("budget", "measured", "throttled"),
    [
        pytest.param(0, 7900, False, id="busy-unthrottled-replica-is-measured"),
        pytest.param(20_000, None, True, id="throttled-replica-is-not"),
    ],
)
def test_replica_throughput_is_measured_only_when_nothing_else_limits_it(
    budget: float, measured: float | None, throttled: bool
) -> None:
    policy = Scripted(())
    trace = parse_trace(constant(20_000, 30), "constant")
    simulate(policy, trace, SimParams(fleet=FleetParams(write_budget_rows_per_s=budget)))
    assert policy.seen[2].replica_throughput_events_per_s == measured
    assert policy.seen[2].fleet_throttled == throttled


# --- outcome figures


def test_drain_and_budget_figures_on_the_flash_sale() -> None:
    floodwall_result, keda_result = compare(POLICIES, load_trace("flash-sale"), SimParams(), "as-deployed")
    for r in (floodwall_result, keda_result):
        after_peak = [t for t in r.ticks if t.t + 1 >= 362]
        drained_at = next(t.t + 1 for t in after_peak if t.lag <= 1000)
        assert r.drain_s == drained_at - 362  # the rate falls below 15,000/s after t=362
        assert r.scale_events == sum(
            1 for a, b in zip(r.ticks, r.ticks[1:], strict=False) if a.replicas != b.replicas
        ) + (r.ticks[0].replicas != 1)
        assert r.over_budget_s == sum(t.demanded_rows > 100_000 for t in r.ticks)


def test_acceptance_on_the_shipped_flash_sale() -> None:
    """Floodwall: no second over the budget, fewer scale events than KEDA, drain within 1.2x KEDA's."""
    floodwall_result, keda_result = compare(POLICIES, load_trace("flash-sale"), SimParams(), "as-deployed")
    assert floodwall_result.over_budget_s == 0 < keda_result.over_budget_s
    assert floodwall_result.scale_events < keda_result.scale_events
    assert floodwall_result.drain_s is not None and keda_result.drain_s is not None
    assert floodwall_result.drain_s <= 1.2 * keda_result.drain_s


# --- traces


def test_shipped_traces() -> None:
    assert {"steady", "flash-sale", "day-curve", "failover"} <= set(shipped_names())
    sale = load_trace("flash-sale")
    assert sale.peak_events_per_s / sale.rate_at(0) == 30
    assert sale.rate_at(125) == pytest.approx(15_500) and sale.spike_end_s() == 362
    assert not load_trace("failover").db_up_at(205) and load_trace("failover").db_up_at(210)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("time,rate\n0,1\n", "header must be", id="bad-header"),
        pytest.param("t_s,events_per_s\n0,abc\n", "must be numbers", id="not-a-number"),
        pytest.param("t_s,events_per_s\n0,5\n0,6\n", "does not increase", id="time-not-increasing"),
        pytest.param("t_s,events_per_s\n5,5\n9,6\n", "first at t_s 0", id="not-from-zero"),
        pytest.param("t_s,events_per_s\n0,-5\n9,6\n", ">= 0", id="negative-rate"),
        pytest.param("t_s,events_per_s,db_up\n0,5,yes\n9,6,1\n", "db_up must be", id="bad-db-flag"),
        pytest.param("t_s,events_per_s\n0,5,1\n9,6\n", "expected 2 values", id="extra-column"),
    ],
)
def test_bad_trace_text_names_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_trace(text, "mine.csv")


def test_missing_trace_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="flash-sale"):
        load_trace("/nonexistent/trace.csv")


# --- the command


def test_cli_json_has_one_object_per_policy() -> None:
    result = floodwall("autoscale", "simulate", "--trace", "flash-sale", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"floodwall", "keda"}
    expected = compare(POLICIES, load_trace("flash-sale"), SimParams(), "as-deployed")
    for r in expected:
        assert {k: figures[r.policy][k] for k in ("max_lag", "drain_s", "replica_seconds")} == {
            "max_lag": r.max_lag, "drain_s": r.drain_s, "replica_seconds": r.replica_seconds,
        }  # fmt: skip
        assert figures[r.policy]["scale_events"] == r.scale_events
        assert figures[r.policy]["over_budget_s"] == r.over_budget_s


def test_cli_table_and_settings(tmp_path: Path) -> None:
    trace = tmp_path / "mine.csv"
    trace.write_text("# my trace\n" + constant(2_000, 120))
    result = floodwall(
        "autoscale", "simulate", "--trace", str(trace), "--policies", "keda", "--keda-lag-threshold", "5000",
        "--write-budget-rows-per-s", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trace mine (120 s") and "no write budget" in lines[1]
    assert lines[-2].split()[:2] == ["policy", "max_lag"] and lines[-1].split()[0] == "keda"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--trace", "no-such-trace"], "neither a shipped trace", id="unknown-trace"),
        pytest.param(["--policies", "hpa"], "--policies", id="unknown-policy"),
        pytest.param(["--min-replicas", "5", "--max-replicas", "2"], "must not exceed", id="min-above-max"),
    ],
)
def test_cli_mistakes_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = floodwall("autoscale", "simulate", *args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("floodwall: error:")


def test_bad_trace_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,events_per_s\n0,1\n0,2\n")
    result = floodwall("autoscale", "simulate", "--trace", str(bad))
    assert result.returncode == 2 and "line 3" in result.stderr and result.stderr.count("\n") == 1


def test_autoscale_help_shows_the_daemon_and_simulate() -> None:
    result = floodwall("autoscale", "--help")
    assert result.returncode == 0
    assert all(word in result.stdout for word in ("simulate", "--actuator", "--policy", "--tick-s"))


def test_settings_validate_cross_field_rules() -> None:
    with pytest.raises(ValueError, match="cannot both be set"):
        AutoscalerSettings(keda_allow_idle_consumers=True, keda_limit_to_partitions_with_lag=True)
    with pytest.raises(ValueError, match="give one policy"):
        AutoscalerSettings(keda_scale_down_percent=0)
    keda = build_policy(AutoscalerSettings(min_replicas=0, keda_scale_up_pods=0), "keda")
    assert keda.params.max_replicas == 12 and keda.params.min_replicas == 0
    assert [p.kind for p in keda.params.scale_up.policies] == ["Percent"]  # type: ignore[union-attr]

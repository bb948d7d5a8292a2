"""``floodwall autoscale …``: the autoscaler's commands (for now ``simulate``; the daemon comes next).

``floodwall autoscale`` is a parser of its own whose subcommands are optional, so that plain
``floodwall autoscale [flags]`` can later run the daemon: its handler is the parser's default, which a
subcommand's handler replaces. Until the daemon exists the default prints the help and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from floodwall.autoscaler.config import (
    DAEMON_FIELDS,
    AutoscalerSettings,
    PolicyName,
    SimulationSettings,
    build_policy,
)
from floodwall.autoscaler.familyrun import render, run_family, stderr_progress
from floodwall.autoscaler.fleetmodel import FleetParams
from floodwall.autoscaler.simulate import FLEET_MODES, SimParams, SimResult, compare, enforces_budget
from floodwall.autoscaler.traces import Trace, load_trace, shipped_names
from floodwall.cliargs import add_settings_command, add_settings_flags, settings_from_args
from floodwall.errors import ConfigError

POLICIES: tuple[PolicyName, ...] = ("floodwall", "keda")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``autoscale`` and its subcommands; returns the ``autoscale`` parser (for the daemon's flags)."""
    autoscale = add_settings_command(
        commands,
        "autoscale",
        AutoscalerSettings,
        _run_daemon,
        help="replica control for the consumer fleet (simulate policies against traffic traces)",
        description="Lag- and database-aware replica control for the sink's consumer fleet.",
    )
    sub = autoscale.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=False)
    _register_simulate(sub)
    return autoscale


def _run_daemon(args: argparse.Namespace) -> int:
    settings = settings_from_args(AutoscalerSettings, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from floodwall.autoscaler.run import run  # the daemon's I/O libraries are not needed by `simulate`

    return run(settings)


def _register_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = sub.add_parser(
        "simulate",
        help="replay a traffic trace against a model of the fleet for each policy and compare",
        description="Replay a trace (events/s over time) second by second against a model of the consumer "
        "fleet — per-replica throughput, start-up delay, a group-wide pause on every rebalance, the "
        "partition count, the database's write budget — with each policy deciding every --tick-s seconds "
        "from the same snapshots the daemon measures. Prints one row per policy: max_lag (events), "
        "drain_s (from the end of the spike until the lag is back to about one second of ingress), "
        "replica_seconds (cost), scale_events (each one a rebalance) and over_budget_s (seconds the fleet "
        "tried to write more rows than the budget). See docs/autoscaler.md.",
    )
    simulate.add_argument(
        "--trace",
        default=None,
        metavar="NAME|FILE",
        help=f"a shipped trace ({', '.join(shipped_names())}) or a CSV file t_s,events_per_s[,db_up] "
        "(default flash-sale)",
    )
    simulate.add_argument(
        "--family",
        type=_family_size,
        metavar="N",
        help="instead of one trace, N generated ones (spikes, repeated spikes, bursts, ramps, day curves, "
        "failovers, noise: docs/autoscaler.md); prints wins/ties/losses against KEDA per figure and "
        "checks the policy's promises trace by trace",
    )
    simulate.add_argument(
        "--seed", type=int, default=1, metavar="S", help="with --family: the family's seed (default 1)"
    )
    simulate.add_argument(
        "--family-out",
        type=Path,
        metavar="DIR",
        help="with --family: where the worst traces go as CSV (default floodwall-family-<seed>)",
    )
    simulate.add_argument(
        "--policies",
        default=",".join(POLICIES),
        metavar="LIST",
        help="comma-separated policies to compare (default floodwall,keda)",
    )
    simulate.add_argument(
        "--fleet",
        choices=FLEET_MODES,
        default="as-deployed",
        help="who enforces the write budget: as-deployed (Floodwall's consumers do, KEDA users' do not), "
        "enforcing (all), unenforced (none); default as-deployed",
    )
    simulate.add_argument("--json", action="store_true", help="print one JSON object keyed by policy")
    policy_fields = (
        set(AutoscalerSettings.model_fields) - DAEMON_FIELDS - {"write_budget_rows_per_s", "policy"}
    )
    add_settings_flags(simulate, AutoscalerSettings, only=policy_fields)
    add_settings_flags(simulate, SimulationSettings, config_flag=False)
    simulate.set_defaults(handler=_simulate)


def _policy_names(text: str) -> list[PolicyName]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if not names or unknown:
        raise ConfigError(f"--policies: choose from {', '.join(POLICIES)} (got {text!r})")
    return [n for n in POLICIES if n in names]


def _family_size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 10_000:
        raise argparse.ArgumentTypeError(f"a number of traces from 1 to 10,000, got {text!r}")
    return n


def _simulate(args: argparse.Namespace) -> int:
    names = _policy_names(args.policies)
    sim = settings_from_args(SimulationSettings, args)
    policy_settings = settings_from_args(AutoscalerSettings, args).model_copy(
        update={"write_budget_rows_per_s": sim.write_budget_rows_per_s}
    )
    params = sim_params(sim, policy_settings)
    if args.family is not None:
        return _simulate_family(args, names, policy_settings, params)
    trace = load_trace(args.trace or "flash-sale")
    results = compare([build_policy(policy_settings, n) for n in names], trace, params, args.fleet)
    if args.json:
        print(json.dumps({r.policy: r.summary() for r in results}, indent=2))
    else:
        print(describe(trace, params, args.fleet, names, sim.protocol))
        print()
        print(table(results))
    return 0


def _simulate_family(
    args: argparse.Namespace, names: list[PolicyName], policy: AutoscalerSettings, params: SimParams
) -> int:
    if args.trace is not None:
        raise ConfigError("--trace and --family exclude each other: one trace, or a generated family")
    if "keda" not in names or len(names) < 2:
        raise ConfigError("--family judges each policy against KEDA's: --policies must list keda and another")
    out_dir = args.family_out or Path(f"floodwall-family-{args.seed}")
    policies = [build_policy(policy, n) for n in names]
    outcome = run_family(policies, params, args.fleet, args.family, args.seed, out_dir, stderr_progress)
    print(json.dumps(outcome.as_json(), indent=2) if args.json else render(outcome))
    return 0


def sim_params(sim: SimulationSettings, policy: AutoscalerSettings) -> SimParams:
    """The simulator's set-up from the two settings objects (one budget, one rows-per-event figure)."""
    costs = sim.rebalance_figures()
    fleet = FleetParams(
        partitions=sim.partitions,
        replica_throughput_events_per_s=sim.fleet_replica_events_per_s,
        startup_s=costs.startup_s,
        join_pause_s=costs.join_pause_s,
        leave_pause_s=costs.leave_pause_s,
        rows_per_event=policy.rows_per_event,
        write_budget_rows_per_s=sim.write_budget_rows_per_s,
        db_capacity_factor=sim.db_capacity_factor,
        commit_trail_s=sim.commit_trail_s,
    )
    return SimParams(
        fleet=fleet,
        tick_s=policy.tick_s,
        initial_replicas=sim.initial_replicas,
        drained_lag_events=sim.drained_lag_events,
    )


def describe(trace: Trace, params: SimParams, mode: str, names: list[PolicyName], protocol: str) -> str:
    """The set-up in three lines, so a table is never read without its assumptions."""
    f = params.fleet
    budget = (
        f"write budget {f.write_budget_rows_per_s:,.0f} rows/s "
        f"({f.write_budget_rows_per_s / f.rows_per_event:,.0f} events/s at {f.rows_per_event:g} rows/event), "
        f"database capacity {f.db_capacity_factor:g}x the budget"
        if f.write_budget_rows_per_s > 0
        else "no write budget"
    )
    enforcing = ", ".join(f"{n} {'yes' if enforces_budget(n, mode) else 'no'}" for n in names)
    return (
        f"trace {trace.name} ({trace.duration_s:,} s, peak {trace.peak_events_per_s:,.0f} events/s): "
        f"{trace.description}\n"
        f"fleet: {f.partitions} partitions, {f.replica_throughput_events_per_s:,.0f} events/s per replica, "
        f"start-up {f.startup_s:g} s, pause per join {f.join_pause_s:g} s and per leave "
        f"{f.leave_pause_s:g} s ({protocol} protocol), {budget}; "
        f"{params.initial_replicas} replica(s) at start, decisions every {params.tick_s:g} s\n"
        f"budget enforced by the consumers (--fleet {mode}): {enforcing}"
    )


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("policy", "policy"),
    ("max_lag", "max_lag"),
    ("drain_s", "drain_s"),
    ("replica_seconds", "replica_s"),
    ("scale_events", "scale_events"),
    ("over_budget_s", "over_budget_s"),
    ("peak_replicas", "peak_replicas"),
    ("peak_demand_rows_per_s", "peak_demand_rows/s"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "not drained"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.0f}"
    return str(value)


def table(results: list[SimResult]) -> str:
    """One aligned row per policy."""
    rows = [[title for _, title in _COLUMNS]]
    for r in results:
        summary = {"policy": r.policy, **r.summary()}
        rows.append([_cell(summary[key]) for key, _ in _COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)

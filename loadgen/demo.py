"""``floodwall demo``: the main job — a flash sale replayed through the whole pipeline, judged at the end.

1. bring the local stack up (or reuse the one running in ``state_dir``);
2. start the autoscaler (Floodwall policy, local actuator) with a database write budget (default 4,000
   rows/s) and a per-consumer cap (1,333 rows/s, standing in for a pod's CPU limit: the budget needs 3
   consumers); it starts ``floodwall consume`` processes and adds or removes them as the lag asks;
3. measure, on the same database, what writing directly costs: the same mix, one transaction per event,
   16 writers at once (``--direct-write-s``), as the services did before Floodwall;
4. generate a flash-sale trace (kept as ``REPORT_DIR/trace.fwt``, replayable) whose peak writes ~3.3x
   the budget, and send it through the SDK on schedule, sampling lag, replicas, rows/s written and
   commit latency; Kafka holds what the budget does not let through;
5. wait for the sink to drain at the budget and the autoscaler to scale back down, verify PostgreSQL
   against what the SDK acknowledged, and write ``report.json`` and ``report.png`` with a PASS/FAIL
   verdict (``REPORT_DIR/demo.log``: the autoscaler's every decision);
6. stop the autoscaler and its consumers; leave the stack up for exploration (``--down`` stops it).

``--chaos`` injects, at moments announced before the sale: ``kill -9`` of a consumer, a Patroni failover
(``kill -9`` of the primary's Patroni and postmaster), every broker down for ``--chaos-outage-s`` (the
SDK spools), and with 3 brokers ``kill -9`` of one. Each is drawn on the chart and listed with its
stall and recovery; the killed parts are restarted, so runs can follow each other on the same stack.

A part that dies or wedges (a sender, the autoscaler, every consumer) ends the run with a FAIL verdict
naming it, within the drain timeout, the report written. Every run uses a fresh namespace for its SKUs,
customers and event ids, so demos can be repeated on the same stack.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field
from rich.console import Console

from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.cliargs import add_settings_command, settings_from_args
from floodwall.consumers.direct import DirectWrites, measure_direct_writes
from floodwall.db.config import resolve_database_url
from floodwall.errors import FloodwallError
from floodwall.events.codec import EventDeserializer
from floodwall.loadgen.chaos import DELIVERY_TIMEOUT_S, Chaos, chaos_plan
from floodwall.loadgen.config import LoadgenSettings
from floodwall.loadgen.demofleet import DemoFleet
from floodwall.loadgen.runner import execute, prepare_trace
from floodwall.localstack import state_dir_field
from floodwall.settings import ServiceSettings, load_settings
from floodwall.stack.config import StackSettings
from floodwall.stack.down import stack_down
from floodwall.stack.state import load_state
from floodwall.stack.up import stack_up

log = logging.getLogger(__name__)

SETTLE_MARGIN_S = 30.0  # beyond the scale-down window: a few 2 s ticks and the consumers' exit
QUIET_LOGGERS = (
    "floodwall.autoscaler",
    "floodwall.kafka.client",
    "floodwall.loadgen.chaos",
)  # into REPORT_DIR/demo.log


class DemoSettings(ServiceSettings):
    """The demo's knobs; everything else takes the services' defaults."""

    section: ClassVar[str] = "demo"

    duration: float = Field(90.0, ge=10, le=3600, description="seconds of flash-sale traffic")
    rate: float = Field(3000.0, gt=0, le=50_000, description="peak events/s of the sale (30x the baseline)")
    seed: int = Field(7, ge=0, description="random seed of the traffic")
    report_dir: Path = Field(Path("floodwall-demo-report"), description="where the report files go")
    state_dir: Path = state_dir_field()
    # The default sale's peak is ~3.3x this budget (3,000 events/s of ~4.3 rows each, with the SDK's
    # catch-up above the schedule): Kafka holds the difference and the fleet drains it at the budget.
    write_budget_rows_per_s: float = Field(
        4_000.0, ge=0, description="rows/s the consumer fleet may write (0 = unlimited)"
    )
    # One consumer here could feed any budget this machine's database takes, so scaling would never
    # show; the cap stands in for a pod's CPU limit: the budget then needs 3 replicas.
    replica_max_rows_per_s: float = Field(
        4_000.0 / 3,
        ge=0,
        description="rows/s one consumer may write (a stand-in for a pod's CPU limit; 0 = none)",
    )
    rows_per_event: float = Field(
        4.3, gt=0, description="rows an event of the demo's mix writes (measured: ~4.3), for the autoscaler"
    )
    max_replicas: int = Field(4, ge=1, le=64, description="most consumers the autoscaler may run")
    direct_write_s: float = Field(
        10.0, ge=0, le=120, description="seconds of direct writes measured before the sale (0 = skip)"
    )
    direct_writers: int = Field(
        16, ge=1, le=256, description="concurrent direct writers (service instances) in that measurement"
    )
    chaos: bool = Field(False, description="inject faults during the sale (see below) and report each one")
    chaos_outage_s: float = Field(
        15.0, ge=1, le=120, description="chaos: how long every broker is down (longer than the SDK's 5 s "
        "delivery timeout under chaos, so events spool)",
    )  # fmt: skip
    scale_down_window_s: float = Field(
        20.0, ge=2, le=600, description="seconds the autoscaler waits after a change before scaling down "
        "(after the drain the demo waits for it to go back to one consumer)",
    )  # fmt: skip
    down: bool = Field(False, description="stop the stack at the end (default: leave it up to explore)")


def run_demo(demo: DemoSettings, console: Console) -> dict[str, Any]:
    """Run the demo; returns the report document (``report["verdict"]`` is PASS or FAIL)."""
    console.rule("[bold]Floodwall demo: a flash sale")
    console.print(f"1/4 stack in {demo.state_dir}")
    stack = load_settings(StackSettings, {"state_dir": demo.state_dir})
    state = stack_up(stack, say=console.print)
    group = "floodwall-sink"
    scaler_settings = load_settings(
        AutoscalerSettings,
        {
            "state_dir": demo.state_dir,
            "bootstrap_servers": state.layout.bootstrap_servers,
            "group_id": group,
            "tick_s": 2,
            "max_replicas": demo.max_replicas,
            "write_budget_rows_per_s": demo.write_budget_rows_per_s,
            "replica_max_rows_per_s": demo.replica_max_rows_per_s,
            "rows_per_event": demo.rows_per_event,
            "target_drain_s": 30,
            "scale_down_window_s": demo.scale_down_window_s,
            # One sale: no recurring bursts to learn from, and the demo waits for this window to pass.
            "scale_down_window_max_s": demo.scale_down_window_s,
            "consumer_log_dir": demo.report_dir / "consumers",
        },
    )
    demo.report_dir.mkdir(parents=True, exist_ok=True)
    decisions = _log_to(demo.report_dir / "demo.log")
    fleet = DemoFleet(scaler_settings)
    console.print(
        f"2/4 autoscaler: Floodwall policy, up to {demo.max_replicas} consumers, write budget "
        f"{demo.write_budget_rows_per_s:,.0f} rows/s, at most {demo.replica_max_rows_per_s:,.0f} rows/s each "
        f"(its decisions in {demo.report_dir / 'demo.log'}, consumer logs in consumers/ beside it)"
    )
    fleet.start()
    try:
        _wait_for_first_consumer(fleet)
        namespace = "d" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        traffic = load_settings(
            LoadgenSettings,
            {
                "profile": "flash-sale",
                "rate": demo.rate,
                "duration": demo.duration,
                "seed": demo.seed,
                "namespace": namespace,
                "group_id": group,
                "state_dir": demo.state_dir,
                "report_dir": demo.report_dir,
            },
        )
        console.print(f"3/4 traffic: flash sale peaking at {demo.rate:,.0f} events/s for {demo.duration:g} s")
        trace = prepare_trace(traffic, demo.report_dir / "trace.fwt", console)
        scenario: dict[str, Any] = {
            "write_budget_rows_per_s": demo.write_budget_rows_per_s,
            "replica_max_rows_per_s": demo.replica_max_rows_per_s,
        }
        if demo.direct_write_s > 0:
            scenario["direct_write"] = _measure_direct(demo, traffic, console).to_json()
        chaos = (
            _announce_chaos(demo, stack, len(state.layout.brokers), fleet, console) if demo.chaos else None
        )
        if chaos is not None:
            scenario["faults"] = chaos.faults  # filled in as they happen, read when the report is built

        def health() -> str | None:
            return fleet.health() or (chaos.errors[0] if chaos is not None and chaos.errors else None)

        console.print("4/4 sending, draining, verifying")
        report = execute(
            traffic, trace, console, probes={"replicas": fleet.current}, scenario=scenario,
            settle=lambda: _wait_for_scale_down(fleet, demo.scale_down_window_s + SETTLE_MARGIN_S, console),
            health=health,
            on_start=chaos.start if chaos is not None else None,
            producer_overrides={"delivery_timeout_s": DELIVERY_TIMEOUT_S} if chaos is not None else None,
        )  # fmt: skip
        if chaos is not None:
            _print_faults(report, console)
    finally:
        if chaos is not None:
            chaos.stop()  # and `stack up`: the next run finds the stack whole
        console.print("stopping the autoscaler and its consumers")
        fleet.stop()
        for name in QUIET_LOGGERS:
            logging.getLogger(name).removeHandler(decisions)
        decisions.close()
    _finish_stack(demo, console)
    return report


def _announce_chaos(
    demo: DemoSettings, stack: StackSettings, brokers: int, fleet: DemoFleet, console: Console
) -> Chaos:
    plan = chaos_plan(demo.duration, brokers, demo.chaos_outage_s)
    console.print("chaos: " + "; ".join(f"t={f.at_s:.0f} s {f.what}" for f in plan))
    return Chaos(stack, plan, fleet.consumer_pids, demo.chaos_outage_s)


def _print_faults(report: dict[str, Any], console: Console) -> None:
    for fault in report.get("scenario", {}).get("faults", []):
        back = fault["recovered_after_s"]
        console.print(
            f"  fault at {fault['at_s']:.0f} s, {fault['kind']}: {fault['detail']}; applied rate stalled "
            f"{fault['stall_s']} s; " + ("not back" if back is None else f"back after {back:.1f} s")
        )


def _log_to(path: Path) -> logging.Handler:
    """The autoscaler's every decision (replicas, reason, the numbers behind it) and the Kafka clients'
    own lines (a broker restarting) into ``path``, for the curious reader of the chart; the terminal
    keeps the progress lines."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        quiet.setLevel(logging.INFO)
        quiet.propagate = False
        quiet.addHandler(handler)
    return handler


def _wait_for_first_consumer(fleet: DemoFleet, timeout_s: float = 60) -> None:
    """The autoscaler starts at least one consumer at its first tick; wait for it so the sale's first
    seconds are not all backlog."""
    deadline = time.monotonic() + timeout_s
    while (fleet.current() or 0) < 1:
        if time.monotonic() > deadline:
            raise FloodwallError(
                "the autoscaler started no consumer within 60 s (see the consumer logs in the report dir)"
            )
        time.sleep(0.5)
    time.sleep(5)


def _measure_direct(demo: DemoSettings, traffic: LoadgenSettings, console: Console) -> DirectWrites:
    """Before the sale, on the same database: the same mix written the way the services did before
    Floodwall — one transaction per event, ``direct_writers`` at once, as fast as the database lets them.
    Its events are of their own namespace, so the sale's verification does not see them."""
    direct = traffic.model_copy(
        update={
            "profile": "steady",
            "duration": demo.direct_write_s * 2,
            "namespace": "w" + traffic.namespace,
        }
    )
    trace = prepare_trace(direct, demo.report_dir / "direct.fwt", console)
    decode = EventDeserializer(validate=False)
    events = [decode(record.value) for record in trace.records()]
    with console.status(f"direct writes: {demo.direct_writers} writers, one event per transaction"):
        result = measure_direct_writes(
            resolve_database_url("", demo.state_dir), events, demo.direct_writers, demo.direct_write_s
        )
    console.print(
        f"direct writes (before Floodwall): {result.events_per_s:,.0f} events/s "
        f"({result.rows_per_s:,.0f} rows/s), commit p99 {(result.latency(0.99) or 0) * 1000:,.0f} ms "
        f"from {result.writers} writers"
    )
    return result


def _wait_for_scale_down(fleet: DemoFleet, timeout_s: float, console: Console) -> None:
    """Drained: give the autoscaler its scale-down window (and a few ticks: ``timeout_s`` in all) to go
    back to one replica, so the chart shows the fleet shrinking after the sale."""
    if (fleet.current() or 0) <= 1:
        return
    console.print(f"drained; waiting up to {timeout_s:.0f} s for the autoscaler to scale back down")
    deadline = time.monotonic() + timeout_s
    while (fleet.current() or 0) > 1 and time.monotonic() < deadline:
        time.sleep(1)


def _finish_stack(demo: DemoSettings, console: Console) -> None:
    state = load_state(demo.state_dir)
    if demo.down and state is not None:
        stack_down(state, say=console.print)
        console.print("stack stopped")
    else:
        console.print(
            "The stack is still up: `floodwall stack status`, Prometheus on "
            f"{state.layout.prometheus_url if state else '?'}; stop it with `make down`."
        )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_settings_command(
        commands,
        "demo",
        DemoSettings,
        _demo,
        help="the main job: replay a flash sale through the local stack with autoscaling, verify, report",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _demo(args: argparse.Namespace) -> int:
    settings = settings_from_args(DemoSettings, args)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run_demo(settings, Console())
    return 0 if report["verdict"] == "PASS" else 1

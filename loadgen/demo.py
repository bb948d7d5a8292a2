"""``floodwall demo``: the main job — a flash sale replayed through the whole pipeline, judged at the end.

1. bring the local stack up (or reuse the one running in ``state_dir``);
2. start the autoscaler (Floodwall policy, local actuator) with a database write budget; it starts
   ``floodwall consume`` processes and adds or removes them as the lag asks;
3. generate a flash-sale trace (kept as ``REPORT_DIR/trace.fwt``, replayable) and send it through the
   SDK on schedule, sampling lag, replicas and commit latency;
4. wait for the sink to drain, verify PostgreSQL against what the SDK acknowledged, and write
   ``report.json`` and ``report.png`` with a PASS/FAIL verdict;
5. stop the autoscaler and its consumers; leave the stack up for exploration (``--down`` stops it).

Every run uses a fresh namespace for its SKUs, customers and event ids, so demos can be repeated on the
same stack.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry
from pydantic import Field
from rich.console import Console

from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.autoscaler.run import build_autoscaler
from floodwall.cliargs import add_settings_command, settings_from_args
from floodwall.consumers.direct import DirectWrites, measure_direct_writes
from floodwall.db.config import resolve_database_url
from floodwall.errors import FloodwallError
from floodwall.events.codec import EventDeserializer
from floodwall.loadgen.config import LoadgenSettings
from floodwall.loadgen.runner import execute, prepare_trace
from floodwall.localstack import state_dir_field
from floodwall.redact import error_line
from floodwall.settings import ServiceSettings, load_settings
from floodwall.stack.config import StackSettings
from floodwall.stack.down import stack_down
from floodwall.stack.state import load_state
from floodwall.stack.up import stack_up

log = logging.getLogger(__name__)

SCALE_DOWN_WINDOW_S = 20.0  # the demo's autoscaler waits this long after a change before scaling down
SETTLE_TIMEOUT_S = SCALE_DOWN_WINDOW_S + 30  # the window, a few 2 s ticks and the consumers' exit
NO_CONSUMER_S = 60.0  # a fleet without a single consumer for this long fails the run
QUIET_LOGGERS = ("floodwall.autoscaler", "floodwall.kafka.client")  # into REPORT_DIR/demo.log


class DemoSettings(ServiceSettings):
    """The demo's knobs; everything else takes the services' defaults."""

    section: ClassVar[str] = "demo"

    duration: float = Field(90.0, ge=10, le=3600, description="seconds of flash-sale traffic")
    rate: float = Field(3000.0, gt=0, le=50_000, description="peak events/s of the sale (30x the baseline)")
    seed: int = Field(7, ge=0, description="random seed of the traffic")
    report_dir: Path = Field(Path("floodwall-demo-report"), description="where the report files go")
    state_dir: Path = state_dir_field()
    # The default sale's peak is ~3.5x this budget (3,000 events/s of ~4.3 rows each, with the SDK's
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
    down: bool = Field(False, description="stop the stack at the end (default: leave it up to explore)")


class _Fleet:
    """The autoscaler's loop in a thread (built as ``floodwall autoscale`` builds it), with the replica
    count exposed for the report's chart."""

    def __init__(self, settings: AutoscalerSettings) -> None:
        self.scaler = build_autoscaler(settings, CollectorRegistry())
        self.stopping = threading.Event()
        self.error: str | None = None
        self._none_since: float | None = None
        self.thread = threading.Thread(
            target=self._run, args=(settings.tick_s,), name="autoscaler", daemon=True
        )

    def _run(self, tick_s: float) -> None:
        try:
            self.scaler.run(tick_s, self.stopping)  # its exit stops the consumers
        except Exception as exc:
            self.error = error_line(exc)
            log.exception("the autoscaler failed")

    def start(self) -> None:
        self.thread.start()

    def current(self) -> float | None:
        """The replicas as the autoscaler's own thread last read or set them. Asking the actuator from here
        would reap and count its processes from a second thread while that one scales them."""
        replicas = self.scaler.replicas
        return None if replicas is None else float(replicas)

    def health(self) -> str | None:
        """Why the fleet cannot drain the run (None: it can): the autoscaler died, or no consumer has run
        for NO_CONSUMER_S (the autoscaler keeps starting them: they must be failing at start-up)."""
        if not self.thread.is_alive() and not self.stopping.is_set():
            return f"the autoscaler stopped: {self.error or 'its thread ended'}"
        if (self.current() or 0) > 0:
            self._none_since = None
            return None
        now = time.monotonic()
        self._none_since = self._none_since or now
        if now - self._none_since >= NO_CONSUMER_S:
            return f"no consumer has been running for {NO_CONSUMER_S:.0f} s (see the consumer logs)"
        return None

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=120)  # the loop's exit stops the consumers (SIGTERM, then kill)


def run_demo(demo: DemoSettings, console: Console) -> dict[str, Any]:
    """Run the demo; returns the report document (``report["verdict"]`` is PASS or FAIL)."""
    console.rule("[bold]Floodwall demo: a flash sale")
    console.print(f"1/4 stack in {demo.state_dir}")
    state = stack_up(load_settings(StackSettings, {"state_dir": demo.state_dir}), say=console.print)
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
            "scale_down_window_s": SCALE_DOWN_WINDOW_S,
            "consumer_log_dir": demo.report_dir / "consumers",
        },
    )
    demo.report_dir.mkdir(parents=True, exist_ok=True)
    decisions = _log_to(demo.report_dir / "demo.log")
    fleet = _Fleet(scaler_settings)
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
        console.print("4/4 sending, draining, verifying")
        report = execute(
            traffic, trace, console, probes={"replicas": fleet.current}, scenario=scenario,
            settle=lambda: _wait_for_scale_down(fleet, console), health=fleet.health,
        )  # fmt: skip
    finally:
        console.print("stopping the autoscaler and its consumers")
        fleet.stop()
        for name in QUIET_LOGGERS:
            logging.getLogger(name).removeHandler(decisions)
        decisions.close()
    _finish_stack(demo, console)
    return report


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


def _wait_for_first_consumer(fleet: _Fleet, timeout_s: float = 60) -> None:
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


def _wait_for_scale_down(fleet: _Fleet, console: Console) -> None:
    """Drained: give the autoscaler its scale-down window (and a few ticks) to go back to one replica,
    so the chart shows the fleet shrinking after the sale."""
    if (fleet.current() or 0) <= 1:
        return
    console.print(f"drained; waiting up to {SETTLE_TIMEOUT_S:.0f} s for the autoscaler to scale back down")
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
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

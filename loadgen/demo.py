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
from floodwall.errors import FloodwallError
from floodwall.loadgen.config import LoadgenSettings
from floodwall.loadgen.runner import execute, prepare_trace
from floodwall.localstack import state_dir_field
from floodwall.settings import ServiceSettings, load_settings
from floodwall.stack.config import StackSettings
from floodwall.stack.down import stack_down
from floodwall.stack.state import load_state
from floodwall.stack.up import stack_up

log = logging.getLogger(__name__)


class DemoSettings(ServiceSettings):
    """The demo's knobs; everything else takes the services' defaults."""

    section: ClassVar[str] = "demo"

    duration: float = Field(180.0, ge=10, le=3600, description="seconds of flash-sale traffic")
    rate: float = Field(3000.0, gt=0, le=50_000, description="peak events/s of the sale (30x the baseline)")
    seed: int = Field(7, ge=0, description="random seed of the traffic")
    report_dir: Path = Field(Path("floodwall-demo-report"), description="where the report files go")
    state_dir: Path = state_dir_field()
    write_budget_rows_per_s: float = Field(
        40_000.0, ge=0, description="rows/s the consumer fleet may write (0 = unlimited)"
    )
    max_replicas: int = Field(4, ge=1, le=64, description="most consumers the autoscaler may run")
    down: bool = Field(False, description="stop the stack at the end (default: leave it up to explore)")


class _Fleet:
    """The autoscaler's loop in a thread (built as ``floodwall autoscale`` builds it), with the replica
    count exposed for the report's chart."""

    def __init__(self, settings: AutoscalerSettings) -> None:
        self.scaler = build_autoscaler(settings, CollectorRegistry())
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.scaler.run, args=(settings.tick_s, self.stopping), name="autoscaler", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def current(self) -> float | None:
        """The replicas as the autoscaler's own thread last read or set them. Asking the actuator from here
        would reap and count its processes from a second thread while that one scales them."""
        replicas = self.scaler.replicas
        return None if replicas is None else float(replicas)

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
            "target_drain_s": 30,
            "scale_down_window_s": 30,
            "consumer_log_dir": demo.report_dir / "consumers",
        },
    )
    fleet = _Fleet(scaler_settings)
    console.print(
        f"2/4 autoscaler: Floodwall policy, up to {demo.max_replicas} consumers, write budget "
        f"{demo.write_budget_rows_per_s:,.0f} rows/s (consumer logs in {demo.report_dir / 'consumers'})"
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
        demo.report_dir.mkdir(parents=True, exist_ok=True)
        trace = prepare_trace(traffic, demo.report_dir / "trace.fwt", console)
        console.print("4/4 sending, draining, verifying")
        report = execute(traffic, trace, console, probes={"replicas": fleet.current})
    finally:
        console.print("stopping the autoscaler and its consumers")
        fleet.stop()
    _finish_stack(demo, console)
    return report


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

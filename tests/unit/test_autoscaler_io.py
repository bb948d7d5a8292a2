"""The autoscaler's I/O half without a broker: settings, metrics contract, the loop with fake edges."""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from floodwall.autoscaler.actuators import ActuationError
from floodwall.autoscaler.config import AutoscalerSettings, build_policy
from floodwall.autoscaler.daemon import Autoscaler
from floodwall.autoscaler.measure import MeasureConfig, MeasureError, Measurer
from floodwall.autoscaler.metrics import AutoscalerMetrics, drain_seconds
from floodwall.autoscaler.model import HEALTHY_DB, PartitionOffsets, Snapshot
from floodwall.settings import load_settings
from floodwall.stack.probes import http_get
from tests.helpers import clean_env
from tests.unit import autoscaler_contract


def snapshot(lag: int, ingress: float | None, egress: float | None, replicas: int = 1) -> Snapshot:
    parts = (PartitionOffsets("orders", 0, 1000 + lag, 1000), PartitionOffsets("orders", 1, 10, None))
    return Snapshot(0.0, replicas, parts, ingress, egress, None, False, HEALTHY_DB)


def test_the_chart_sets_only_real_settings() -> None:
    assert set(AutoscalerSettings.model_fields) >= autoscaler_contract.SETTINGS_FIELDS
    assert AutoscalerSettings.model_fields["metrics_port"].default == autoscaler_contract.METRICS_PORT_DEFAULT


def test_metrics_are_exactly_the_contract_the_dashboards_use() -> None:
    registry = CollectorRegistry()
    metrics = AutoscalerMetrics.create(registry)
    from floodwall.autoscaler.model import Decision

    metrics.observe(snapshot(5, 1.0, 2.0), Decision(1, "steady", "x"))
    found = {
        f.name + ("_total" if f.type == "counter" else ""): (f.type, tuple(sorted({
            k for s in f.samples for k in s.labels if not s.name.endswith("_created")})))
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        if not f.name.endswith("_created")
    }  # fmt: skip
    expected = {k: (t, tuple(sorted(labels))) for k, (t, labels) in autoscaler_contract.METRICS.items()}
    assert found == expected


@pytest.mark.parametrize(
    ("lag", "ingress", "egress", "expected"),
    [
        (0, 10.0, 0.0, 0.0),
        (1000, 100.0, 600.0, 2.0),
        (1000, 600.0, 100.0, math.inf),
        (1000, None, None, math.inf),
    ],
    ids=["no lag", "shrinking", "growing", "first tick"],
)
def test_time_to_drain(lag: int, ingress: float | None, egress: float | None, expected: float) -> None:
    assert drain_seconds(snapshot(lag, ingress, egress)) == expected


def test_patroni_judgement_holds_after_a_leader_change() -> None:
    measurer = Measurer(MeasureConfig("127.0.0.1:1", "g", ("orders",), failover_settle_s=30))
    leader = [{"name": "n1", "role": "leader", "state": "running"}, {"name": "n2", "role": "replica"}]
    assert measurer._judge(0.0, leader).writable
    assert not measurer._judge(5.0, [{"name": "n2", "role": "replica", "state": "running"}]).primary_healthy
    moved = [{"name": "n2", "role": "leader", "state": "running"}]
    assert measurer._judge(10.0, moved).failing_over  # the new leader settles first
    assert measurer._judge(41.0, moved).writable


@dataclass
class FakeFleet:
    replicas: int = 1
    fail: bool = False
    calls: list[int] = field(default_factory=list)

    def current(self) -> int:
        return self.replicas

    def scale(self, replicas: int) -> None:
        self.calls.append(replicas)
        if self.fail:
            raise ActuationError("forbidden")
        self.replicas = replicas

    def close(self) -> None:
        pass


class FixedMeasurer(Measurer):
    def __init__(self, snaps: list[Snapshot | MeasureError]) -> None:
        self.snaps = snaps

    def snapshot(self, current_replicas: int, now: float | None = None) -> Snapshot:
        item = self.snaps.pop(0)
        if isinstance(item, MeasureError):
            raise item
        return Snapshot(item.at_s, current_replicas, *[getattr(item, f) for f in (
            "partitions", "ingress_events_per_s", "egress_events_per_s", "replica_throughput_events_per_s",
            "fleet_throttled", "db")])  # fmt: skip


def test_the_loop_acts_on_decisions_and_survives_measure_and_actuation_errors() -> None:
    settings = load_settings(AutoscalerSettings, {"max_replicas": 4, "replica_throughput_events_per_s": 1000,
                                                  "target_drain_s": 10})  # fmt: skip
    burst = snapshot(50_000, 2000.0, 1000.0)
    fleet = FakeFleet()
    registry = CollectorRegistry()
    scaler = Autoscaler(
        FixedMeasurer([MeasureError("broker down"), burst, burst]), build_policy(settings), fleet,
        AutoscalerMetrics.create(registry),
    )  # fmt: skip
    assert scaler.tick() is None  # no measurement: nothing decided, nothing scaled
    decision = scaler.tick()
    assert decision is not None and decision.desired > 1 and fleet.calls == [decision.desired]
    fleet.fail = True
    scaler.tick()
    text = generate_latest(registry).decode()
    assert "floodwall_autoscaler_measure_errors_total 1.0" in text
    assert "floodwall_autoscaler_actuation_errors_total" in text


def test_the_daemon_reports_an_unreachable_broker_in_one_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "floodwall", "autoscale", "--bootstrap-servers", "127.0.0.1:9",
         "--tick-s", "1", "--state-dir", str(tmp_path), "--metrics-port", "0"],
        stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not any("no measurement this tick" in line for line in lines):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        lines.append(proc.stderr.readline())
    found = re.search(r"metrics on (http://\S+)/metrics", "".join(lines))
    assert found is not None
    assert http_get(found.group(1) + "/healthz")[0] == 200  # the loop turns
    assert http_get(found.group(1) + "/readyz")[0] == 503  # but has nothing to decide from
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    text = "".join(lines) + proc.stderr.read()
    assert "127.0.0.1:9" in text and "Traceback" not in text

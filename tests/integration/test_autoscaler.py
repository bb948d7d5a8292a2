"""The autoscaler on the real stack: a burst raises the replicas (local processes), the lag drains, the
replicas fall after stabilization, and every acknowledged event lands exactly once."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from floodwall.autoscaler.config import AutoscalerSettings, build_policy
from floodwall.autoscaler.daemon import Autoscaler
from floodwall.autoscaler.measure import Measurer
from floodwall.autoscaler.metrics import AutoscalerMetrics
from floodwall.autoscaler.model import Decision, Snapshot
from floodwall.autoscaler.run import build_actuator, measure_config
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Workload
from tests.integration.kafka_reading import wait_group_assigned

pytestmark = pytest.mark.integration

BUDGET_ROWS = 40_000.0  # 8,000 events/s at 5 rows per order event


class RecordingMeasurer(Measurer):
    """The real measurer, keeping every snapshot so the test can check decisions against them."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[Snapshot] = []

    def snapshot(self, current_replicas: int, now: float | None = None) -> Snapshot:
        taken = super().snapshot(current_replicas, now)
        self.seen.append(taken)
        return taken


@dataclass
class Run:
    scaler: Autoscaler
    measurer: RecordingMeasurer
    decisions: list[tuple[Snapshot, Decision]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def loop(self, tick_s: float) -> None:
        try:
            while not self.stop.is_set():
                before = len(self.measurer.seen)
                decision = self.scaler.tick()
                if decision is not None and len(self.measurer.seen) > before:
                    self.decisions.append((self.measurer.seen[-1], decision))
                self.stop.wait(tick_s)
        finally:
            self.scaler.actuator.close()

    def replicas(self) -> int:
        return self.decisions[-1][1].desired if self.decisions else 0


def test_a_burst_scales_the_fleet_up_and_back_down_without_losing_an_event(
    stack: RunningStack, tmp_path: Path
) -> None:
    layout = Layout(stack.settings)
    workload = Workload(layout, orders=40_000, restocks=2_000)
    ensure_topics(layout.bootstrap_servers, workload.topics, 12)
    settings = load_settings(AutoscalerSettings, {
        "bootstrap_servers": layout.bootstrap_servers, "group_id": f"a-{workload.suffix}",
        "orders_topic": workload.topics[0], "inventory_topic": workload.topics[1],
        "state_dir": stack.settings.state_dir, "consumer_log_dir": tmp_path / "consumers",
        "tick_s": 1, "min_replicas": 1, "max_replicas": 8, "target_drain_s": 5,
        "replica_throughput_events_per_s": 2_000, "write_budget_rows_per_s": BUDGET_ROWS,
        "scale_down_window_s": 8, "consumer_args": "--session-timeout-ms 6000"})  # fmt: skip
    measurer = RecordingMeasurer(measure_config(settings))
    run = Run(
        Autoscaler(measurer, build_policy(settings), build_actuator(settings),
                   AutoscalerMetrics.create(CollectorRegistry())), measurer)  # fmt: skip
    worker = threading.Thread(target=run.loop, args=(settings.tick_s,), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while run.replicas() != 1:
            assert time.monotonic() < deadline, "the autoscaler never started its first consumer"
            time.sleep(0.5)
        wait_group_assigned(layout.bootstrap_servers, settings.group_id, timeout_s=60)

        workload.produce(tmp_path / "spool")  # the burst: all at once
        workload.wait_processed(timeout_s=240)
        drained_at = time.monotonic()
        while run.replicas() != 1:
            assert time.monotonic() < drained_at + 90, f"replicas never fell back: {run.replicas()}"
            time.sleep(0.5)
    finally:
        run.stop.set()
        worker.join(timeout=90)

    workload.verify()  # every acknowledged event applied exactly once, by effect
    peak = max(d.desired for _, d in run.decisions)
    assert peak > 1, "the burst did not raise the replicas"
    for snapshot, decision in run.decisions:
        assert decision.desired <= snapshot.max_partitions_per_topic
        throughput = snapshot.replica_throughput_events_per_s or settings.replica_throughput_events_per_s
        budget_cap = math.ceil(BUDGET_ROWS / settings.rows_per_event / throughput)
        assert decision.desired <= max(budget_cap, 1), (decision, throughput)
    changes = [
        (s.current_replicas, d.desired, d.reason) for s, d in run.decisions if d.desired != s.current_replicas
    ]
    print(f"autoscaler burst: replica changes {changes}")
    ups = [i for i, (before, after, _) in enumerate(changes) if after > before]
    downs = [i for i, (before, after, _) in enumerate(changes) if after < before]
    assert ups and downs and min(downs) > max(ups), "not up first, then down"

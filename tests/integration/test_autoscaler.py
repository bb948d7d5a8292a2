"""The autoscaler on the real stack: a burst raises the replicas (local processes), the lag drains, the
replicas fall after stabilization, and every acknowledged event lands exactly once."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.integration.autoscaling import Run
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Workload

pytestmark = pytest.mark.integration

BUDGET_ROWS = 40_000.0  # 8,000 events/s at 5 rows per order event


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
    run = Run.build(settings)
    worker = run.start(settings.tick_s)
    try:
        run.wait_first_consumer(layout.bootstrap_servers, settings.group_id)

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
    changes = [(before, after, reason) for _, before, after, reason in run.changes()]
    print(f"autoscaler burst: replica changes {changes}")
    ups = [i for i, (before, after, _) in enumerate(changes) if after > before]
    downs = [i for i, (before, after, _) in enumerate(changes) if after < before]
    assert ups and downs and min(downs) > max(ups), "not up first, then down"

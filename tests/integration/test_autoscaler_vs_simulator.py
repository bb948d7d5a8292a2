"""The daemon on the real stack follows the simulator: a two-spike trace is sent through the SDK at its
rates, the autoscaler (Floodwall policy, local consumer processes) scales the fleet, and its replica
timeline is compared with what ``floodwall autoscale simulate`` predicts for the same trace, settings and
budget (issue 16, point 4). Every acknowledged event must also land exactly once.

Tolerance: the same replica changes in the same order, each within ``TOLERANCE_S`` of the simulator's.
Both decide every 2 s tick, but the daemon's ticks are not in phase with the trace, the real lag trails
the consumers' commits to Kafka, and real start-ups and rebalances vary by a second or two around the
model's measured medians: two ticks plus that spread.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from floodwall.autoscaler.commands import sim_params
from floodwall.autoscaler.config import AutoscalerSettings, SimulationSettings, build_policy
from floodwall.autoscaler.simulate import SimResult, simulate
from floodwall.autoscaler.traces import Trace, TracePoint
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.integration.autoscaling import Run
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Workload

pytestmark = pytest.mark.integration

TICK_S = 2.0
TOLERANCE_S = 2 * TICK_S + 3.0
BUDGET_ROWS = 1_000.0  # 333 restocks/s: 3 replicas at ...
REPLICA_ROWS = BUDGET_ROWS / 3  # ... 333 rows/s each (a stand-in for a pod's CPU limit, as in the demo)
# A restock of a SKU of its own writes 3 rows: processed_events, the stock ledger and the stock level. The
# run sends restocks only, on a 12-partition inventory topic, and gives the orders topic 1 partition: the
# simulator models one topic, and the consumers split the budget by all their partitions (12 of 13 here),
# so the load must sit on one topic for the model to describe the fleet. (An order's rows depend on its
# items and on how many SKUs its batch shares; a load split over two topics splits unevenly with the
# assignment.)
ROWS_PER_EVENT = 3.0
LOADED_SHARE = 12 / 13  # of the budget: the inventory topic's partitions of all the fleet consumes
BASELINE = 20.0  # events/s
PEAK = 700.0  # events/s: over twice the budget


def two_spikes() -> Trace:
    """Two spikes of twice the budget for 12 s, 68 s apart, then a quiet tail long enough
    for the fleet to come back down after the second (the window does not stretch: 16 s at most)."""
    shape = [(0, BASELINE), (12, BASELINE), (14, PEAK), (26, PEAK), (28, BASELINE),
             (80, BASELINE), (82, PEAK), (94, PEAK), (96, BASELINE), (140, BASELINE)]  # fmt: skip
    return Trace(
        name="two-spikes",
        description=f"two spikes of {PEAK:.0f} events/s for 12 s, 68 s apart, over {BASELINE:.0f} events/s",
        points=tuple(TracePoint(float(t), rate, True) for t, rate in shape),
    )


def settings_for(stack: RunningStack, layout: Layout, workload: Workload, logs: Path) -> AutoscalerSettings:
    return load_settings(AutoscalerSettings, {
        "bootstrap_servers": layout.bootstrap_servers, "group_id": f"vs-{workload.suffix}",
        "orders_topic": workload.topics[0], "inventory_topic": workload.topics[1],
        "state_dir": stack.settings.state_dir, "consumer_log_dir": logs,
        "tick_s": TICK_S, "min_replicas": 1, "max_replicas": 4, "target_drain_s": 30,
        "write_budget_rows_per_s": BUDGET_ROWS, "replica_max_rows_per_s": REPLICA_ROWS,
        "rows_per_event": ROWS_PER_EVENT, "scale_down_window_s": 16, "scale_down_window_max_s": 16,
        "consumer_args": "--session-timeout-ms 6000"})  # fmt: skip


def predicted(settings: AutoscalerSettings, trace: Trace) -> SimResult:
    """The simulator with the shipped fleet model, on this run's partitions, budget and replica cap."""
    sim = load_settings(SimulationSettings, {
        "partitions": 12, "fleet_replica_events_per_s": REPLICA_ROWS / ROWS_PER_EVENT,
        "write_budget_rows_per_s": BUDGET_ROWS * LOADED_SHARE, "initial_replicas": 1})  # fmt: skip
    return simulate(build_policy(settings), trace, sim_params(sim, settings))


def simulated_changes(result: SimResult) -> list[tuple[float, int, int]]:
    changes, running = [], 1
    for tick in result.ticks:
        if tick.decision is not None and tick.decision.desired != running:
            changes.append((float(tick.t), running, tick.decision.desired))
            running = tick.decision.desired
    return changes


def arrivals(trace: Trace) -> list[float]:
    """Events arrived by each whole second (``events_between`` integrates one linear piece: whole seconds
    at a time, as the simulator does)."""
    total = [0.0]
    for second in range(trace.duration_s):
        total.append(total[-1] + trace.events_between(second, second + 1))
    return total


def send_on_schedule(workload: Workload, trace: Trace, spool: Path) -> float:
    """Emit the workload's events through the SDK at the trace's rate; returns the trace's start (the
    monotonic clock). Every event must be acknowledged."""
    events, by_second = workload.events(), arrivals(trace)
    settings = load_settings(ProducerSettings, {
        "bootstrap_servers": workload.layout.bootstrap_servers, "orders_topic": workload.topics[0],
        "inventory_topic": workload.topics[1], "spool_dir": spool})  # fmt: skip
    with EventProducer(settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
        handles: list[Delivery] = []
        start = time.monotonic()
        while len(handles) < len(events):
            elapsed = time.monotonic() - start
            whole = min(int(elapsed), trace.duration_s)
            due = min(len(events), round(by_second[whole] + trace.events_between(whole, elapsed)))
            handles += [producer.emit(e) for e in events[len(handles) : due]]
            time.sleep(0.005)  # the send schedule's resolution, not a wait for a condition
        assert producer.flush(120) == 0
    assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles)
    workload.acknowledged = len(handles)
    return start


def test_the_daemon_follows_the_simulator_on_two_spikes(stack: RunningStack, tmp_path: Path) -> None:
    layout, trace = Layout(stack.settings), two_spikes()
    total = round(arrivals(trace)[-1])
    workload = Workload(layout, orders=0, restocks=total, restock_skus=total)
    ensure_topics(layout.bootstrap_servers, workload.topics[:1], 1)
    ensure_topics(layout.bootstrap_servers, workload.topics[1:], 12)
    settings = settings_for(stack, layout, workload, tmp_path / "consumers")
    expected = simulated_changes(predicted(settings, trace))
    ups = [c for c in expected if c[2] > c[1]]
    assert len(ups) == 2 and len(expected) >= 4, f"the trace no longer tests two bursts: {expected}"

    run = Run.build(settings)
    worker = run.start(settings.tick_s)
    try:
        run.wait_first_consumer(layout.bootstrap_servers, settings.group_id)
        start = send_on_schedule(workload, trace, tmp_path / "spool")
        workload.wait_processed(timeout_s=120)
        end = start + trace.duration_s + TOLERANCE_S
        while (now := time.monotonic()) < end:  # the rest of the trace's timeline, as the simulator ran it
            run.stop.wait(min(1.0, end - now))
    finally:
        run.stop.set()
        worker.join(timeout=90)

    workload.verify()
    actual = [(at - start, before, after) for at, before, after, _ in run.changes() if at >= start]
    timeline = [(round(t, 1), a, b) for t, a, b in actual]
    print(f"two spikes: simulator {expected}; daemon {timeline}")
    for snapshot, decision in run.decisions:  # the daemon's reasons, for a failure's diagnosis
        print(f"  {snapshot.at_s - start:6.1f} s {decision.reason}: {decision.detail}")
    assert [c[1:] for c in actual] == [c[1:] for c in expected], (expected, actual)
    late = [(e, a) for e, a in zip(expected, actual, strict=True) if abs(e[0] - a[0]) > TOLERANCE_S]
    assert not late, f"changes more than {TOLERANCE_S:g} s from the simulator's: {late}"

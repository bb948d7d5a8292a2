"""The sink fleet under faults: kill -9, scaling, a Patroni failover — nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from floodwall.stack.layout import Layout
from floodwall.stack.up import stack_up
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Fleet, Workload
from tests.integration.test_failover import leader, postmaster_pid

pytestmark = pytest.mark.integration


Ingest = Callable[..., tuple[Workload, Fleet]]


@pytest.fixture
def ingest(stack: RunningStack, tmp_path: Path) -> Iterator[Ingest]:
    """``ingest(orders=…, restocks=…)``: a workload produced through the SDK and an idle fleet for it."""
    made: list[Fleet] = []

    def build(orders: int, restocks: int, restock_skus: int = 200) -> tuple[Workload, Fleet]:
        workload = Workload(Layout(stack.settings), orders, restocks, restock_skus)
        workload.produce(tmp_path / f"spool-{len(made)}")
        fleet = Fleet(workload, tmp_path)
        made.append(fleet)
        return workload, fleet

    yield build
    for fleet in made:
        fleet.stop_all()


def test_kill_9_consumers_repeatedly_while_three_ingest(
    stack: RunningStack,
    ingest: Ingest,
    record_figure: Callable[[str, str], None],
) -> None:
    workload, fleet = ingest(orders=90_000, restocks=10_000)
    fleet.start(3)
    rng = random.Random(4)
    kills = 0
    while kills < 4 and workload.processed() < workload.acknowledged * 0.8:
        time.sleep(6)
        fleet.kill(rng.randrange(len(fleet.members)))  # mid-stream, mid-batch: no warning
        fleet.start(1)
        kills += 1
    stall = workload.wait_processed(timeout_s=300)
    workload.verify()
    assert kills >= 2, "ingestion finished before the faults could bite; grow the workload"
    record_figure(
        "fleet kill -9",
        f"{kills} kills during {workload.acknowledged} events; "
        f"longest stall {stall:.1f} s; 0 missing, 0 doubled",
    )


def wait_for(workload: Workload, share: float, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while workload.processed() < workload.acknowledged * share:
        assert time.monotonic() < deadline, f"ingestion did not reach {share:.0%}"
        time.sleep(0.5)


def test_scale_1_to_3_to_1_during_ingestion(
    stack: RunningStack,
    ingest: Ingest,
    record_figure: Callable[[str, str], None],
) -> None:
    workload, fleet = ingest(orders=50_000, restocks=10_000)
    fleet.start(1)
    wait_for(workload, 0.15)
    fleet.start(2)  # scale up: a rebalance hands partitions to the newcomers
    wait_for(workload, 0.5)
    assert workload.processed() < workload.acknowledged, "finished before scaling down; grow the workload"
    fleet.terminate(0, count=2)  # scale down gracefully, both at the same instant
    stall = workload.wait_processed(timeout_s=300)
    workload.verify()
    record_figure(
        "fleet scale 1->3->1",
        f"{workload.acknowledged} events; longest stall {stall:.1f} s; 0 missing, 0 doubled",
    )


def test_patroni_primary_killed_during_ingestion(
    stack: RunningStack,
    ingest: Ingest,
    record_figure: Callable[[str, str], None],
) -> None:
    workload, fleet = ingest(orders=60_000, restocks=10_000)
    fleet.start(2)
    wait_for(workload, 0.25)
    node = leader(Layout(stack.settings))
    postmaster = postmaster_pid(node)
    os.kill(stack.state.processes[node.part].pid, signal.SIGKILL)  # the whole primary node: Patroni ...
    os.kill(postmaster, signal.SIGKILL)  # ... and its PostgreSQL
    try:
        stall = workload.wait_processed(timeout_s=300)
        workload.verify()
    finally:
        stack.state = stack_up(stack.settings, say=lambda _: None)  # bring the killed node back
    assert leader(Layout(stack.settings)).name != node.name
    record_figure(
        "fleet Patroni failover",
        f"ingestion stalled {stall:.1f} s; {workload.acknowledged} events, 0 missing, 0 doubled",
    )


@pytest.mark.parametrize("replicas", [1, 3])
def test_write_budget_holds_whatever_the_fleet_size(
    stack: RunningStack,
    ingest: Ingest,
    replicas: int,
    record_figure: Callable[[str, str], None],
) -> None:
    budget = 1500  # rows/s for the whole fleet; each event here writes exactly 3 rows
    events = 9000
    workload, fleet = ingest(orders=0, restocks=events, restock_skus=events)
    fleet.extra_flags = ["--write-budget-rows-per-s", str(budget), "--batch-max-events", "300"]
    fleet.start(replicas)
    workload.wait_processed(timeout_s=240)
    workload.verify()
    with psycopg.connect(workload.layout.write_dsn()) as conn:
        times = [
            row[0]
            for row in conn.execute(
                "SELECT committed_at FROM processed_events WHERE source_topic = ANY(%s) "
                "ORDER BY committed_at",
                (workload.topics,),
            ).fetchall()
        ]
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]  # the steady middle 80 %
    rows_per_s = 3 * (len(times) * 8 // 10) / (high - low).total_seconds()
    record_figure(f"write budget {budget} rows/s, {replicas} consumer(s)", f"applied {rows_per_s:.0f} rows/s")
    assert rows_per_s <= 1.1 * budget
    assert rows_per_s >= 0.5 * budget, "the limiter starves the fleet"

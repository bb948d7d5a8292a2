"""A Kafka broker dies during ingestion on three brokers (replication factor 3, min ISR 2).

The broker that leads the most partitions of the workload is killed with SIGKILL while the SDK is still
producing and the fleet consuming. Every event the SDK acknowledged must be applied exactly once, and the
consumers must carry on without a restart; the longest stall in the database's progress is recorded.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # re-exported by admin, but not declared so

from floodwall.stack.layout import Layout
from floodwall.stack.procs import stop
from floodwall.stack.up import stack_up
from tests.helpers import wait_until
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Fleet, Workload

pytestmark = pytest.mark.integration


def logged(layout: Layout, topics: list[str]) -> int:
    """Messages in ``topics`` so far (sum of the log end offsets); 0 before the topics can be read."""
    admin = AdminClient({"bootstrap.servers": layout.bootstrap_servers})
    metadata = admin.list_topics(timeout=10)
    if not all(t in metadata.topics for t in topics):
        return 0
    tps = [TopicPartition(t, p) for t in topics for p in metadata.topics[t].partitions]
    ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=10)
    try:
        return sum(f.result().offset for f in ends.values())
    except KafkaException:  # leadership still settling after the topics were created: ask again
        return 0


def busiest_leader(layout: Layout, topics: list[str]) -> int:
    """The node id leading the most partitions of ``topics``."""
    metadata = AdminClient({"bootstrap.servers": layout.bootstrap_servers}).list_topics(timeout=10)
    leaders = Counter(p.leader for t in topics for p in metadata.topics[t].partitions.values())
    return leaders.most_common(1)[0][0]


@pytest.fixture
def fleet_on_three(stack3: RunningStack, tmp_path: Path) -> Iterator[tuple[Workload, Fleet]]:
    workload = Workload(Layout(stack3.settings), orders=80_000, restocks=10_000)
    fleet = Fleet(workload, tmp_path)
    yield workload, fleet
    fleet.stop_all()
    stack3.state = stack_up(stack3.settings, say=lambda _: None)  # the killed broker back for the next test


def test_kill_9_of_the_busiest_leader_during_ingestion_loses_nothing(
    stack3: RunningStack,
    fleet_on_three: tuple[Workload, Fleet],
    tmp_path: Path,
    record_figure: Callable[[str, str], None],
) -> None:
    workload, fleet = fleet_on_three
    layout = Layout(stack3.settings)
    assert layout.replication_factor == 3 and layout.min_insync_replicas == 2
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            workload.produce(tmp_path / "spool")
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)

    fleet.start(2)  # joining while the topics fill
    producing = threading.Thread(target=produce, daemon=True)
    producing.start()
    total = workload.orders + workload.restocks
    wait_until("a third of the events in Kafka", lambda: logged(layout, workload.topics) >= total // 3)
    victim = busiest_leader(layout, workload.topics)
    assert stop(stack3.state.processes[f"broker-{victim}"], signal.SIGKILL)
    producing.join(timeout=600)
    assert not producing.is_alive(), "the SDK did not finish producing with one broker down"
    assert not failures, f"producing failed: {failures[0]!r}"
    assert len(fleet.members) == 2 and all(m.poll() is None for m in fleet.members), "a consumer died"
    stall = workload.wait_processed(timeout_s=300)
    workload.verify()
    record_figure(
        "broker kill -9 (3 brokers)",
        f"broker {victim} of 3 killed mid-ingestion; {workload.acknowledged} events acknowledged; "
        f"longest stall {stall:.1f} s; 0 missing, 0 doubled",
    )

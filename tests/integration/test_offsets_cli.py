"""``floodwall offsets`` against the real stack: stored offsets outside real logs (one beyond the end, one
before a start moved by DeleteRecords), a reset checked in PostgreSQL, in Kafka and by Kafka's own tool,
and a reset under a running consumer, which its fencing turns into a re-read without double effects."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # re-exported by admin, but not declared so
from prometheus_client import CollectorRegistry

from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.loop import SinkConsumer
from floodwall.events.model import InventoryEvent
from floodwall.producers.config import ProducerSettings
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import clean_env, wait_until
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Env:
    bootstrap: str
    dsn: str
    state_dir: Path
    kafka_lib: Path

    def offsets(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real command line, without a terminal (so a reset needs --yes)."""
        flags = ["--bootstrap-servers", self.bootstrap, "--database-url", self.dsn, "--state-dir",
                 str(self.state_dir)]  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "floodwall", "offsets", *args, *flags],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=clean_env(),
        )  # fmt: skip


@pytest.fixture
def env(stack: RunningStack) -> Env:
    layout = Layout(stack.settings)
    return Env(layout.bootstrap_servers, layout.write_dsn(), stack.settings.state_dir,
               stack.settings.kafka_lib_dir)  # fmt: skip


@pytest.fixture
def admin(env: Env) -> AdminClient:
    return AdminClient({"bootstrap.servers": env.bootstrap})


def stored(dsn: str, group: str, topic: str) -> dict[int, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT partition, next_offset FROM sink_offsets WHERE consumer_group = %s AND topic = %s",
            (group, topic),
        ).fetchall()
    return {int(p): int(o) for p, o in rows}


def store(dsn: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    with psycopg.connect(dsn) as conn:
        for partition, offset in offsets.items():
            conn.execute(
                "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, %s)",
                (group, topic, partition, offset),
            )


def committed(admin: AdminClient, group: str, topic: str, partitions: int) -> dict[int, int]:
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
    result = admin.list_consumer_group_offsets(request, request_timeout=10)[group].result()
    return {tp.partition: tp.offset for tp in result.topic_partitions or [] if tp.offset >= 0}


def commit(admin: AdminClient, group: str, tp: TopicPartition) -> bool:
    request = [ConsumerGroupTopicPartitions(group, [tp])]
    admin.alter_consumer_group_offsets(request, request_timeout=10)[group].result()
    return committed(admin, group, tp.topic, tp.partition + 1).get(tp.partition) == tp.offset


def log_start(admin: AdminClient, topic: str, partition: int) -> int:
    tp = TopicPartition(topic, partition)
    return int(admin.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=10)[tp].result().offset)


def kafka_tool_offsets(env: Env, group: str, topic: str) -> dict[int, str]:
    """CURRENT-OFFSET per partition as Apache Kafka's own ConsumerGroupCommand reports it."""
    result = subprocess.run(
        ["java", "-cp", f"{env.kafka_lib}/*", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
         "--bootstrap-server", env.bootstrap, "--describe", "--group", group],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.split()]
    header = next(cols for cols in lines if cols[:2] == ["GROUP", "TOPIC"])
    rows = [dict(zip(header, cols, strict=False)) for cols in lines if cols[:2] == [group, topic]]
    return {int(r["PARTITION"]): r["CURRENT-OFFSET"] for r in rows}


def test_show_finds_offsets_outside_the_log_and_reset_moves_them_in_postgres_and_kafka(
    env: Env, admin: AdminClient
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"off-{suffix}", f"off-group-{suffix}"
    ensure_topics(env.bootstrap, [topic], 4)
    producer = Producer({"bootstrap.servers": env.bootstrap})
    for partition in range(4):
        for n in range(10):
            producer.produce(topic, f"event {n}".encode(), partition=partition)
    assert producer.flush(30) == 0
    # Retention-like loss made real: the first 6 records of partition 2 are deleted.
    deleted = admin.delete_records([TopicPartition(topic, 2, 6)], request_timeout=10)
    for future in deleted.values():
        future.result()
    wait_until("log start 6 on partition 2", lambda: log_start(admin, topic, 2) == 6)
    # p0 fits, p1 lies beyond the log end (as after a recreated topic), p2 before the log start, p3 has none.
    store(env.dsn, group, topic, {0: 4, 1: 500, 2: 3})
    # As a consumer would have committed it. On a fresh cluster the first commit can fail per partition
    # while the offsets topic loads (an error in the result, not an exception): commit until it shows.
    wait_until("Kafka to take a commit", lambda: commit(admin, group, TopicPartition(topic, 0, 4)))

    shown = env.offsets("show", "--json", "--group", group, "--topic", topic)
    assert shown.returncode == 1, shown.stderr
    rows = {p["partition"]: p for p in json.loads(shown.stdout)["partitions"]}
    assert {n: r["status"] for n, r in rows.items()} == {
        0: "ok", 1: "beyond log end", 2: "before log start", 3: "no stored offset"}  # fmt: skip
    assert (rows[0]["stored_offset"], rows[0]["committed_offset"], rows[0]["log_start"], rows[0]["log_end"],
            rows[0]["lag"]) == (4, 4, 0, 10, 6)  # fmt: skip
    assert (rows[1]["lag"], rows[2]["log_start"], rows[2]["log_end"]) == (-490, 6, 10)
    assert rows[3]["stored_offset"] is None and rows[3]["committed_offset"] is None

    refused = env.offsets("reset", "--group", group, "--topic", topic, "--partition", "0", "--to-offset",
                          "11", "--yes")  # fmt: skip
    assert refused.returncode == 1 and "offset 11 is outside the log [0, 10]" in refused.stderr
    unasked = env.offsets("reset", "--group", group, "--topic", topic, "--partition", "1", "--to-earliest")
    assert unasked.returncode == 2 and "pass --yes" in unasked.stderr
    assert stored(env.dsn, group, topic) == {0: 4, 1: 500, 2: 3}, "a refused reset changed something"

    reset = env.offsets("reset", "--group", group, "--topic", topic, "--partition", "1", "--partition", "2",
                        "--to-earliest", "--yes")  # fmt: skip
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert f"{topic}[1]: 500 -> 0 (stored offset lies 490 beyond the log end 10" in reset.stdout
    assert f"{topic}[2]: 3 -> 6 (3 events (offsets 3..5) were deleted by the broker" in reset.stdout
    assert (
        "the group has no members" in reset.stdout and f"committed to Kafka for group {group}" in reset.stdout
    )
    assert stored(env.dsn, group, topic) == {0: 4, 1: 0, 2: 6}
    assert committed(admin, group, topic, 4) == {0: 4, 1: 0, 2: 6}
    assert kafka_tool_offsets(env, group, topic) == {0: "4", 1: "0", 2: "6"}  # it omits uncommitted ones

    again = env.offsets("show", "--group", group, "--topic", topic)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line.split()[-1] for line in again.stdout.splitlines()[1:]] == ["ok", "ok", "ok", "offset"]


@pytest.fixture
def running_consumer(env: Env, tmp_path: Path) -> Iterator[tuple[SinkConsumer, str, str]]:
    suffix = uuid.uuid4().hex[:8]
    orders, inventory, dlq = f"ro-{suffix}", f"ri-{suffix}", f"rd-{suffix}"
    ensure_topics(env.bootstrap, [orders, inventory, dlq], 1)
    group = f"reset-live-{suffix}"
    settings = load_settings(ConsumerSettings, {
        "bootstrap_servers": env.bootstrap, "group_id": group, "orders_topic": orders,
        "inventory_topic": inventory, "dlq_topic": dlq, "metrics_port": 0,
        "state_dir": env.state_dir})  # fmt: skip
    consumer = SinkConsumer(settings, env.dsn)
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        yield consumer, group, inventory
    finally:
        consumer.stop()
        worker.join(timeout=30)


def test_a_reset_under_a_running_consumer_is_fenced_into_a_reread_without_double_effects(
    env: Env, admin: AdminClient, tmp_path: Path, running_consumer: tuple[SinkConsumer, str, str]
) -> None:
    consumer, group, inventory = running_consumer
    sku = f"RESET-{uuid.uuid4().hex[:6]}"
    producer_settings = load_settings(ProducerSettings, {
        "bootstrap_servers": env.bootstrap, "orders_topic": f"unused-{sku}", "inventory_topic": inventory,
        "spool_dir": tmp_path / "spool"})  # fmt: skip
    events = [InventoryEvent.restock(sku=sku, warehouse="w1", quantity=1) for _ in range(21)]
    with EventProducer(producer_settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
        for event in events[:20]:
            producer.emit(event)
        assert producer.flush(30) == 0
        wait_until("20 events applied", lambda: stored(env.dsn, group, inventory) == {0: 20}, timeout_s=90)

        reset = env.offsets("reset", "--group", group, "--topic", inventory, "--to-earliest", "--yes")
        assert reset.returncode == 0, reset.stdout + reset.stderr
        assert "re-reads 20 events" in reset.stdout and "the group has 1 member(s)" in reset.stdout
        assert stored(env.dsn, group, inventory) == {0: 0}

        # The partition is idle: the consumer meets the reset with its next batch, which is fenced.
        producer.emit(events[20])
        assert producer.flush(30) == 0
        wait_until("the re-read and the new event", lambda: stored(env.dsn, group, inventory) == {0: 21})
    wait_until("Kafka's committed offset to follow", lambda: committed(admin, group, inventory, 1) == {0: 21})
    assert consumer.totals.fenced >= 1 and consumer.totals.duplicates == 20
    with psycopg.connect(env.dsn) as conn:
        row = conn.execute("SELECT available FROM stock_levels WHERE sku = %s", (sku,)).fetchone()
    assert row is not None and row[0] == 21, "a re-read event changed the stock twice"

"""Both consumer group protocols on Apache Kafka, and stored offsets that do not fit the log.

Each protocol must position every partition at the offset stored in PostgreSQL (a second member picks
up exactly where the first stopped). A stored offset outside the log (beyond its end, or before its
start after deletion) must stop that partition with the gauge set — never skip silently — while the
other partitions go on; fixing the stored offset lets the consumer resume by itself.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
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
from tests.helpers import wait_until
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration

PROCESSED = "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s::uuid[])"


def count(dsn: str, query: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        return int(str(row[0])) if row else 0


class Topics:
    def __init__(self, stack: RunningStack, tmp_path: Path, partitions: int) -> None:
        self.layout = Layout(stack.settings)
        self.suffix = uuid.uuid4().hex[:8]
        self.orders, self.inventory = f"g-orders-{self.suffix}", f"g-inventory-{self.suffix}"
        self.dsn = self.layout.write_dsn()
        self.tmp_path = tmp_path
        ensure_topics(self.layout.bootstrap_servers, [self.orders, self.inventory], partitions)

    def settings(self, protocol: str) -> ConsumerSettings:
        return load_settings(ConsumerSettings, {
            "bootstrap_servers": self.layout.bootstrap_servers, "group_id": f"g-{self.suffix}",
            "orders_topic": self.orders, "inventory_topic": self.inventory,
            "dlq_topic": f"g-dlq-{self.suffix}", "group_protocol": protocol, "metrics_port": 0,
            "batch_max_events": 200})  # fmt: skip

    def send(self, events: list[InventoryEvent], run: str) -> None:
        settings = load_settings(ProducerSettings, {
            "bootstrap_servers": self.layout.bootstrap_servers, "orders_topic": self.orders,
            "inventory_topic": self.inventory, "spool_dir": self.tmp_path / f"spool-{run}"})  # fmt: skip
        with EventProducer(settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
            for event in events:
                producer.emit(event)
            assert producer.flush(30) == 0

    def processed(self, events: list[InventoryEvent]) -> int:
        return count(self.dsn, PROCESSED, [str(e.event_id) for e in events])


def restocks(prefix: str, n: int) -> list[InventoryEvent]:
    return [InventoryEvent.restock(sku=f"{prefix}-{i}", warehouse="w1", quantity=1) for i in range(n)]


@contextmanager
def running(consumer: SinkConsumer) -> Iterator[SinkConsumer]:
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        yield consumer
    finally:
        consumer.stop()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the consumer did not stop"


@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_each_protocol_resumes_at_the_stored_offsets(
    stack: RunningStack, tmp_path: Path, protocol: str
) -> None:
    topics = Topics(stack, tmp_path, partitions=4)
    first, second = restocks(f"A{topics.suffix}", 400), restocks(f"B{topics.suffix}", 300)
    topics.send(first, "1")
    with running(SinkConsumer(topics.settings(protocol), topics.dsn)) as consumer:
        wait_until("the first events", lambda: topics.processed(first) == len(first))
    assert consumer.totals.duplicates == 0
    topics.send(second, "2")
    with running(SinkConsumer(topics.settings(protocol), topics.dsn)) as consumer:
        wait_until("the second events", lambda: topics.processed(second) == len(second))
    # Positioned at the stored offsets: nothing of the first run was fetched and applied again.
    assert consumer.totals.applied == len(second) and consumer.totals.duplicates == 0


def _gauge(consumer: SinkConsumer, topic: str, partition: int) -> float | None:
    return consumer.metrics_registry.get_sample_value(
        "floodwall_consumer_offset_out_of_range", {"topic": topic, "partition": str(partition)}
    )


def _store(dsn: str, group: str, topic: str, partition: int, offset: int) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
            (group, topic, partition, offset),
        )


@pytest.mark.parametrize("direction", ["beyond the log end", "before the log start"])
def test_a_stored_offset_outside_the_log_stops_its_partition_until_fixed(
    stack: RunningStack, tmp_path: Path, direction: str
) -> None:
    topics = Topics(stack, tmp_path, partitions=2)
    settings = topics.settings("consumer")
    events = restocks(f"M{topics.suffix}", 200)
    topics.send(events, "1")
    admin = AdminClient({"bootstrap.servers": topics.layout.bootstrap_servers})
    if direction == "beyond the log end":
        stored = 10_000_000  # as after the topic was recreated: the log starts again at 0
    else:
        # Retention deleted events nobody applied: the log now starts at 20, the stored offset is 0.
        futures = admin.delete_records([TopicPartition(topics.inventory, 0, 20)], request_timeout=15)
        next(iter(futures.values())).result(timeout=15)
        stored = 0
    _store(topics.dsn, settings.group_id, topics.inventory, 0, stored)

    with running(SinkConsumer(settings, topics.dsn)) as consumer:
        wait_until("the gauge", lambda: _gauge(consumer, topics.inventory, 0) == 1)
        wait_until("partition 1 consumed", lambda: topics.processed(events) > 0)
        applied_before_fix = topics.processed(events)
        assert applied_before_fix < len(events), "partition 0 was consumed from a position outside its log"
        assert _gauge(consumer, topics.inventory, 1) is None
        # The operator's deliberate fix: store an offset inside the log.
        low, _high = consumer._consumer.get_watermark_offsets(TopicPartition(topics.inventory, 0), timeout=5)
        _store(topics.dsn, settings.group_id, topics.inventory, 0, low)
        wait_until("partition 0 resumed", lambda: _gauge(consumer, topics.inventory, 0) is None, 30)
        expected = len(events) - (20 if direction == "before the log start" else 0)
        wait_until("every event still in the log", lambda: topics.processed(events) == expected, 60)

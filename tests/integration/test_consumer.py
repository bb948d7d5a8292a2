"""The consumer end to end: SDK → broker → `SinkConsumer` → Patroni cluster, checked by event id."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import cast

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.loop import SinkConsumer
from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import DeliveryStatus
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.schemas.registry import SchemaRegistry
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.stack.probes import http_get
from floodwall.topics import ensure_topics
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def count(dsn: str, query: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        return int(str(row[0])) if row else 0


PROCESSED = "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s::uuid[])"


def dead_letters(bootstrap: str, topic: str, expect: int) -> list[dict[str, str]]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dlq-reader-{uuid.uuid4()}"})
    try:
        parts = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        found: list[dict[str, str]] = []
        deadline = time.monotonic() + 30
        while len(found) < expect and time.monotonic() < deadline:
            for msg in reader.consume(100, timeout=0.5):
                if msg.error() is None:
                    headers = cast(list[tuple[str, bytes | None]], msg.headers() or [])
                    found.append({k: (v or b"").decode() for k, v in headers})
        return found
    finally:
        reader.close()


def test_events_land_exactly_once_with_oversell_rejected_and_poison_in_the_dlq(
    stack: RunningStack, tmp_path: Path
) -> None:
    layout = Layout(stack.settings)
    bootstrap, dsn = layout.bootstrap_servers, layout.write_dsn()
    suffix = uuid.uuid4().hex[:8]
    orders_topic, inventory_topic, dlq_topic = (
        f"c-orders-{suffix}",
        f"c-inventory-{suffix}",
        f"c-dlq-{suffix}",
    )
    ensure_topics(bootstrap, [orders_topic, inventory_topic, dlq_topic], 6)
    hot = f"HOT-{suffix}"

    events: list[Event] = [InventoryEvent.restock(sku=hot, warehouse="w1", quantity=10)]
    events += [InventoryEvent.reservation(sku=hot, warehouse="w1", quantity=1, order_id=uuid.uuid4())
               for _ in range(30)]  # fmt: skip
    order_ids = [uuid.uuid4() for _ in range(200)]
    events += [OrderEvent.placed(order_id=o, customer_id="c", region="eu", currency="EUR",
                                 items=[OrderItem(sku=f"S-{n % 9}", quantity=1, unit_price_minor=100 + n)])
               for n, o in enumerate(order_ids)]  # fmt: skip
    events += [OrderEvent.paid(order_id=o, customer_id="c", region="eu", currency="EUR", amount_minor=100 + n)
               for n, o in enumerate(order_ids[:100])]  # fmt: skip
    producer_settings = load_settings(ProducerSettings, {
        "bootstrap_servers": bootstrap, "orders_topic": orders_topic, "inventory_topic": inventory_topic,
        "spool_dir": tmp_path / "spool"})  # fmt: skip
    with EventProducer(producer_settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
        handles = [producer.emit(e) for e in events]
        replays = [producer.emit(e) for e in events[-20:]]  # producer-side replays: same event ids
        assert producer.flush(30) == 0
    assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles + replays)

    # Poison: garbage bytes, an unknown writer schema, and well-formed Avro that is not a valid event.
    encode = SchemaRegistry.default().encoder("inventory_event")
    invalid = encode({"event_id": str(uuid.uuid4()), "kind": "reservation", "occurred_at": 0, "sku": hot,
                      "warehouse": "w1", "quantity": 0, "order_id": None})  # fmt: skip
    raw = Producer({"bootstrap.servers": bootstrap})
    for value in (b"\x00garbage", b"\xc3\x01" + b"\x11" * 8 + b"\x02", invalid):
        raw.produce(inventory_topic, value, hot.encode())
    assert raw.flush(10) == 0

    settings = load_settings(ConsumerSettings, {
        "bootstrap_servers": bootstrap, "group_id": f"sink-{suffix}", "orders_topic": orders_topic,
        "inventory_topic": inventory_topic, "dlq_topic": dlq_topic, "batch_max_events": 100,
        "metrics_port": 0, "state_dir": stack.settings.state_dir})  # fmt: skip
    consumer = SinkConsumer(settings, dsn)
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        ids = [str(e.event_id) for e in events]
        deadline = time.monotonic() + 90
        while count(dsn, PROCESSED, ids) < len(ids):
            assert time.monotonic() < deadline, "not every acknowledged event was processed"
            time.sleep(0.5)
        base = f"http://127.0.0.1:{consumer.http_port}"
        assert http_get(base + "/healthz")[0] == 200 and http_get(base + "/readyz")[0] == 200
        metrics = http_get(base + "/metrics")[1].decode()
        targets = stack.settings.state_dir / "prometheus" / "targets"
        assert len(list(targets.glob(f"consumer-sink-{suffix}-*.json"))) == 1, (
            "not registered with Prometheus"
        )
    finally:
        consumer.stop()
        worker.join(timeout=30)

    assert count(dsn, PROCESSED, ids) == len(ids)
    applied = len(ids) - 20  # the oversold reservations are recorded as rejected
    assert f"floodwall_consumer_events_applied_total {applied}.0" in metrics
    assert 'floodwall_consumer_events_rejected_total{reason="insufficient_stock"} 20.0' in metrics
    assert 'floodwall_consumer_dead_letters_total{error_class="UnknownFingerprint"} 1.0' in metrics
    assert "floodwall_consumer_events_duplicate_total 20.0" in metrics
    assert not list(targets.glob(f"consumer-sink-{suffix}-*")), "the Prometheus target outlived the consumer"
    assert consumer.totals.duplicates == 20
    assert count(dsn, "SELECT available FROM stock_levels WHERE sku = %s", hot) == 0
    assert (
        count(dsn, "SELECT count(*) FROM inventory_ledger WHERE sku = %s AND outcome = 'rejected'", hot) == 20
    )
    assert count(dsn, "SELECT count(*) FROM orders WHERE order_id = ANY(%s::uuid[]) AND status = 'paid'",
                 [str(o) for o in order_ids]) == 100  # fmt: skip
    letters = dead_letters(bootstrap, dlq_topic, expect=3)
    assert sorted(h["floodwall.error.class"] for h in letters) == [
        "EventValidationError", "MalformedMessage", "UnknownFingerprint"]  # fmt: skip
    assert all(h["floodwall.source.topic"] == inventory_topic for h in letters)
    assert any("quantity" in h["floodwall.error.message"] for h in letters)


def test_events_the_database_refuses_go_to_the_dlq_and_their_batch_mates_land(
    stack: RunningStack, tmp_path: Path
) -> None:
    """A valid event can still break a rule only the database knows (here a CHECK a DBA added): it must
    reach the DLQ with the database's reason, and the rest of its batch must land."""
    layout = Layout(stack.settings)
    bootstrap, dsn = layout.bootstrap_servers, layout.write_dsn()
    suffix = uuid.uuid4().hex[:8]
    topics = [f"r-orders-{suffix}", f"r-inventory-{suffix}", f"r-dlq-{suffix}"]
    ensure_topics(bootstrap, topics, 3)
    embargoed, constraint = f"embargoed-{suffix}", f"test_embargo_{suffix}"
    orders = [OrderEvent.placed(order_id=uuid.uuid4(), customer_id="c", currency="EUR",
                                region=embargoed if n % 50 == 7 else "eu",
                                items=[OrderItem(sku="S", quantity=1, unit_price_minor=100)])
              for n in range(300)]  # fmt: skip
    refused = [e for e in orders if e.region == embargoed]
    landed = [str(e.event_id) for e in orders if e.region != embargoed]
    producer_settings = load_settings(ProducerSettings, {
        "bootstrap_servers": bootstrap, "orders_topic": topics[0], "inventory_topic": topics[1],
        "spool_dir": tmp_path / "spool"})  # fmt: skip
    with EventProducer(producer_settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
        for event in orders:
            producer.emit(event)
        assert producer.flush(30) == 0

    with psycopg.connect(layout.owner_dsn(), autocommit=True) as conn:  # a DBA's change: the owner's
        conn.execute(f"ALTER TABLE orders ADD CONSTRAINT {constraint} CHECK (region <> '{embargoed}') "
                     "NOT VALID".encode())  # fmt: skip
    settings = load_settings(ConsumerSettings, {
        "bootstrap_servers": bootstrap, "group_id": f"r-{suffix}", "orders_topic": topics[0],
        "inventory_topic": topics[1], "dlq_topic": topics[2], "batch_max_events": 100,
        "metrics_port": 0})  # fmt: skip
    consumer = SinkConsumer(settings, dsn)
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 90
        while count(dsn, PROCESSED, landed) < len(landed):
            assert time.monotonic() < deadline and worker.is_alive(), "the batch-mates did not land"
            time.sleep(0.5)
        metrics = http_get(f"http://127.0.0.1:{consumer.http_port}/metrics")[1].decode()
    finally:
        consumer.stop()
        worker.join(timeout=30)
        with psycopg.connect(layout.owner_dsn(), autocommit=True) as conn:
            conn.execute(f"ALTER TABLE orders DROP CONSTRAINT {constraint}".encode())

    assert count(dsn, PROCESSED, [str(e.event_id) for e in refused]) == 0
    assert count(dsn, "SELECT count(*) FROM orders WHERE region = %s", embargoed) == 0
    assert consumer.totals.dead_letters == len(refused) == 6
    assert (
        f'floodwall_consumer_dead_letters_total{{error_class="CheckViolation"}} {len(refused)}.0' in metrics
    )
    letters = dead_letters(bootstrap, topics[2], expect=len(refused))
    assert {h["floodwall.error.class"] for h in letters} == {"CheckViolation"}
    assert all(constraint in h["floodwall.error.message"] for h in letters)
    assert all(h["floodwall.source.topic"] == topics[0] for h in letters)


def test_consume_command_stops_gracefully_on_sigterm(stack: RunningStack) -> None:
    import signal
    import subprocess
    import sys

    from tests.helpers import clean_env

    layout = Layout(stack.settings)
    suffix = uuid.uuid4().hex[:8]
    topics = [f"g-orders-{suffix}", f"g-inventory-{suffix}"]
    ensure_topics(layout.bootstrap_servers, topics, 2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "floodwall", "consume", "--bootstrap-servers", layout.bootstrap_servers,
         "--group-id", f"g-{suffix}", "--orders-topic", topics[0], "--inventory-topic", topics[1],
         "--database-url", layout.write_dsn(), "--metrics-port", "0"],
        stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any("assigned" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stderr.readline())
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 20
        rest = proc.stderr.read()
        assert "SIGTERM: finishing the batch and leaving the group" in rest and "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()

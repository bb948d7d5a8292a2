"""EventProducer.emit_many against a real broker: every event acknowledged, keyed, in per-key order, and
nothing lost when the broker is killed mid-batch (spooled, replayed after the restart).

A stack of this module's own, as in test_producer_recovery.py: one test kills the broker.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import DeliveryStatus
from floodwall.producers.producer import EventProducer
from tests.integration.conftest import RunningStack, running_stack
from tests.integration.kafka_reading import decode_single_object, load_schema, read_topic
from tests.integration.producing import metric
from tests.integration.test_producer_recovery import (
    Emitter,
    assert_all_in_key_order,
    kill_mid_send,
    stock_events,
)

pytestmark = pytest.mark.integration

BATCH = 500


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    """This module's own stack: the broker is killed here, which no other module's test may see."""
    yield from running_stack(pg_nodes=1)


class BatchEmitter(Emitter):
    """Emitter's progress and join, sending through emit_many in chunks of ``batch``."""

    def __init__(self, producer: EventProducer, events: list[InventoryEvent], batch: int) -> None:
        self.batch = batch  # before the thread starts
        super().__init__(producer, events)

    def _run(self) -> None:
        try:
            for start in range(0, len(self.events), self.batch):
                handles = self._producer.emit_many(self.events[start : start + self.batch])
                with self._progress:
                    self.handles += handles
                    self._progress.notify_all()
        except BaseException as exc:  # reported by join(); the test fails on it
            self.error = exc
            with self._progress:
                self._progress.notify_all()


def mixed_events(count: int) -> list[Event]:
    """Orders (several events per order id) and reservations (several per SKU), interleaved."""
    orders = [uuid.uuid4() for _ in range(40)]
    stock = stock_events(count)  # 50 SKUs in turn
    events: list[Event] = []
    for n in range(count):
        if n % 2:
            events.append(stock[n])
            continue
        item = OrderItem(sku=f"SKU-{n % 13}", quantity=1 + n % 3, unit_price_minor=100 + n)
        events.append(OrderEvent.placed(order_id=orders[n % len(orders)], customer_id=f"c-{n}", region="eu",
                                        currency="EUR", items=[item]))  # fmt: skip
    return events


def read_keys_in_order(settings: ProducerSettings, topic: str, schema_name: str, key_field: str,
                       expect: int) -> dict[bytes, list[uuid.UUID]]:  # fmt: skip
    """Each key's event ids in offset order; asserts the key is the record's order id or SKU."""
    fp, schema = load_schema(schema_name)
    by_key: dict[bytes, list[tuple[int, uuid.UUID]]] = defaultdict(list)
    for msg in read_topic(settings.bootstrap_servers, topic, expect=expect):
        record = decode_single_object(msg.value, fp, schema)
        assert msg.key == str(record[key_field]).encode(), f"{schema_name} keyed by {msg.key!r}"
        by_key[msg.key].append((msg.offset, record["event_id"]))
    return {key: [event_id for _, event_id in sorted(found)] for key, found in by_key.items()}


def test_emit_many_events_are_all_acknowledged_keyed_and_in_per_key_order(
    producer: EventProducer, settings: ProducerSettings, registry: CollectorRegistry
) -> None:
    events = mixed_events(6_000)
    handles = []
    for start in range(0, len(events), BATCH):
        handles += producer.emit_many(events[start : start + BATCH])
    assert producer.flush(60) == 0
    assert [h.event_id for h in handles] == [e.event_id for e in events]
    assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles)
    orders = [e for e in events if isinstance(e, OrderEvent)]
    stock = [e for e in events if isinstance(e, InventoryEvent)]
    expected: dict[bytes, list[uuid.UUID]] = defaultdict(list)
    for event in events:
        expected[event.key()].append(event.event_id)
    seen = read_keys_in_order(settings, settings.orders_topic, "order_event", "order_id", len(orders))
    seen |= read_keys_in_order(settings, settings.inventory_topic, "inventory_event", "sku", len(stock))
    assert seen == expected  # every event once, under its key, in emit order
    for topic, sent in ((settings.orders_topic, orders), (settings.inventory_topic, stock)):
        assert metric(registry, "floodwall_producer_events_emitted_total", topic=topic) == len(sent)
        assert metric(registry, "floodwall_producer_events_acknowledged_total", topic=topic) == len(sent)


def test_emit_many_across_a_broker_kill_spools_and_replays_in_key_order(
    stack: RunningStack, producer: EventProducer, settings: ProducerSettings, registry: CollectorRegistry
) -> None:
    warm = stock_events(500)
    assert all(h.result(timeout=30) is DeliveryStatus.ACKNOWLEDGED for h in producer.emit_many(warm))
    events = stock_events(20_000)
    statuses, restart_s, recovered_s = kill_mid_send(
        stack, producer, BatchEmitter(producer, events, BATCH), 5_000
    )
    topic = settings.inventory_topic
    spooled = metric(registry, "floodwall_producer_events_spooled_total", topic=topic)
    assert spooled > 0
    assert metric(registry, "floodwall_producer_events_replayed_total", topic=topic) == spooled
    repeats = assert_all_in_key_order(settings, [*warm, *events])
    print(
        f"\nemit_many across kill -9: statuses after flush {statuses}, spooled {spooled:.0f}, "
        f"repeats {repeats}, broker restart {restart_s:.1f} s, kill to drained {recovered_s:.1f} s"
    )

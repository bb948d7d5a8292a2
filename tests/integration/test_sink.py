"""The Postgres sink against the real Patroni cluster (through the HAProxy write port)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from floodwall.consumers.decide import Incoming
from floodwall.consumers.sink import Fenced, PostgresSink, Span
from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem
from floodwall.stack.layout import Layout
from tests.helpers import wait_until
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn(stack: RunningStack) -> str:
    return Layout(stack.settings).write_dsn()


@pytest.fixture
def group() -> str:
    return f"test-group-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sink(dsn: str, group: str) -> Iterator[PostgresSink]:
    made = PostgresSink(dsn, group)
    yield made
    made.close()


def batch_of(
    events: list[Event], topic: str = "orders", partition: int = 0, first: int = 0
) -> tuple[Span, list[Incoming]]:
    incoming = [Incoming(e, topic, partition, first + n) for n, e in enumerate(events)]
    return Span(topic, partition, first, first + len(events)), incoming


def scalar(dsn: str, query: str, *params: object) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        return None if row is None else row[0]


def test_orders_items_status_and_offsets_land_together(sink: PostgresSink, dsn: str, group: str) -> None:
    order_id = uuid.uuid4()
    placed = OrderEvent.placed(order_id=order_id, customer_id="c-1", region="eu", currency="EUR",
                               items=[OrderItem(sku="A", quantity=2, unit_price_minor=150),
                                      OrderItem(sku="B", quantity=1, unit_price_minor=99)])  # fmt: skip
    paid = OrderEvent.paid(
        order_id=order_id, customer_id="c-1", region="eu", currency="EUR", amount_minor=399
    )
    span, batch = batch_of([placed, paid], first=100)
    result = sink.apply([span], batch)
    assert (result.applied, result.rejected, result.duplicates) == (2, 0, 0)
    assert scalar(dsn, "SELECT status FROM orders WHERE order_id = %s", order_id) == "paid"
    assert scalar(dsn, "SELECT total_minor FROM orders WHERE order_id = %s", order_id) == 399
    assert scalar(dsn, "SELECT count(*) FROM order_items WHERE order_id = %s", order_id) == 2
    assert sink.stored_offsets("orders", [0]) == {0: 102}
    assert sink.landed([span])

    # Next batch of the same partition: continues from 102; a cancel after paid is allowed.
    cancel = OrderEvent.cancelled(
        order_id=order_id, customer_id="c-1", region="eu", currency="EUR", reason="x"
    )
    span2, batch2 = batch_of([cancel], first=102)
    assert sink.apply([span2], batch2).applied == 1
    assert scalar(dsn, "SELECT status FROM orders WHERE order_id = %s", order_id) == "cancelled"


def test_replays_are_applied_once(sink: PostgresSink, dsn: str) -> None:
    restock = InventoryEvent.restock(sku=f"R-{uuid.uuid4().hex[:6]}", warehouse="w1", quantity=7)
    span, batch = batch_of([restock, restock], topic="inventory", partition=3)
    assert sink.apply([span], batch).duplicates == 1
    span2, batch2 = batch_of([restock], topic="inventory", partition=3, first=2)  # a producer-side replay
    result = sink.apply([span2], batch2)
    assert (result.applied, result.duplicates) == (0, 1)
    assert scalar(dsn, "SELECT available FROM stock_levels WHERE sku = %s", restock.sku) == 7
    assert scalar(dsn, "SELECT count(*) FROM processed_events WHERE event_id = %s", restock.event_id) == 1


def test_oversell_is_rejected_and_stock_never_negative(sink: PostgresSink, dsn: str) -> None:
    sku = f"HOT-{uuid.uuid4().hex[:6]}"
    restock = InventoryEvent.restock(sku=sku, warehouse="w1", quantity=10)
    reservations = [InventoryEvent.reservation(sku=sku, warehouse="w1", quantity=1, order_id=uuid.uuid4())
                     for _ in range(25)]  # fmt: skip
    span, batch = batch_of([restock, *reservations[:12]], topic="inventory", partition=5)
    sink.apply([span], batch)
    span2, batch2 = batch_of(list(reservations[12:]), topic="inventory", partition=5, first=13)
    sink.apply([span2], batch2)
    assert scalar(dsn, "SELECT available FROM stock_levels WHERE sku = %s", sku) == 0
    assert (
        scalar(dsn, "SELECT count(*) FROM inventory_ledger WHERE sku = %s AND outcome = 'rejected'", sku)
        == 15
    )
    explained = (
        "SELECT count(*) FROM processed_events p JOIN inventory_ledger l USING (event_id) "
        "WHERE l.sku = %s AND p.outcome = 'rejected' AND p.reason LIKE 'insufficient stock%%'"
    )
    assert scalar(dsn, explained, sku) == 15


def test_a_zombie_is_fenced_and_applies_nothing(dsn: str, group: str) -> None:
    owner, zombie = PostgresSink(dsn, group), PostgresSink(dsn, group)
    try:
        first = InventoryEvent.restock(sku=f"Z-{uuid.uuid4().hex[:6]}", warehouse="w1", quantity=1)
        span, batch = batch_of([first], topic="inventory", partition=7)
        owner.apply([span], batch)
        late = InventoryEvent.restock(sku=first.sku, warehouse="w1", quantity=50)
        stale_span, stale_batch = batch_of(
            [late], topic="inventory", partition=7, first=0
        )  # it still thinks 0
        with pytest.raises(Fenced):
            zombie.apply([stale_span], stale_batch)
        assert scalar(dsn, "SELECT available FROM stock_levels WHERE sku = %s", first.sku) == 1
        assert owner.stored_offsets("inventory", [7]) == {7: 1}
    finally:
        owner.close()
        zombie.close()


def test_two_consumers_meeting_a_new_stock_key_lose_no_adjustment(dsn: str) -> None:
    """Mis-keyed events: two consumers (own partitions, own connections) restock the same brand-new
    SKU at the same moment. A third session holds a table lock that stops both before their stock
    writes, so both are mid-transaction at once, every run; the ledger must then sum to the stock."""
    sku, warehouse = f"NEW-{uuid.uuid4().hex[:8]}", "w1"
    sinks = [PostgresSink(dsn, f"race-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    batches = [batch_of([InventoryEvent.restock(sku=sku, warehouse=warehouse, quantity=q)],
                        topic="inventory", partition=p) for p, q in ((0, 5), (1, 7))]  # fmt: skip
    results: list[object] = []
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE stock_levels IN SHARE ROW EXCLUSIVE MODE")
        threads = [
            threading.Thread(target=lambda s=s, b=b: results.append(_apply_or_error(s, *b)))
            for s, b in zip(sinks, batches, strict=True)
        ]
        for thread in threads:
            thread.start()
        wait_until("both consumers waiting", lambda: _sessions_waiting_on_stock_levels(dsn) == 2, 30, 0.05)
        blocker.rollback()  # releases the lock: both go on at once
    for thread in threads:
        thread.join(timeout=60)
    for made in sinks:
        made.close()
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 2  # type: ignore[arg-type]
    assert scalar(dsn, "SELECT available FROM stock_levels WHERE sku = %s AND warehouse = %s",
                  sku, warehouse) == 12  # fmt: skip
    assert scalar(dsn, "SELECT sum(quantity_delta) FROM inventory_ledger WHERE sku = %s AND outcome = "
                  "'applied'", sku) == 12  # fmt: skip


def _apply_or_error(sink: PostgresSink, span: Span, batch: list[Incoming]) -> int | BaseException:
    try:
        return sink.apply([span], batch).applied
    except Exception as exc:  # reported by the assertion in the test's thread
        return exc


def _sessions_waiting_on_stock_levels(dsn: str) -> int:
    waiting = scalar(dsn, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                     "WHERE c.relname = 'stock_levels' AND NOT l.granted")  # fmt: skip
    assert isinstance(waiting, int)
    return waiting

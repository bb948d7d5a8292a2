"""Consumer pieces without I/O: record → event conversion, which database errors are retried."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import psycopg
import pytest

from consumers.loop import is_transient
from consumers.records import RecordError, event_from_record
from producers.events import InventoryEvent, OrderEvent, OrderItem


def test_records_become_the_sdk_event_types() -> None:
    event = OrderEvent.placed(order_id=uuid4(), customer_id="c", region="eu", currency="EUR",
                              items=[OrderItem(sku="A", quantity=1, unit_price_minor=5)])  # fmt: skip
    # fastavro returns UUID and datetime objects for the uuid and timestamp-micros logical types
    record = {**event.to_record(), "event_id": event.event_id, "order_id": event.order_id,
              "occurred_at": event.occurred_at}  # fmt: skip
    assert event_from_record("order_event", record) == event
    inv = InventoryEvent.restock(
        sku="A", warehouse="w", quantity=3, occurred_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    back = event_from_record("inventory_event", {**inv.to_record(), "event_id": inv.event_id,
                                                 "occurred_at": inv.occurred_at})  # fmt: skip
    assert back == inv


@pytest.mark.parametrize(
    ("name", "record"),
    [("order_event", {"event_type": "placed"}), ("inventory_event", {"kind": "teleport"}), ("other", {})],
)
def test_incomplete_records_are_record_errors(name: str, record: dict[str, object]) -> None:
    with pytest.raises(RecordError):
        event_from_record(name, record)


def test_transient_database_errors() -> None:
    assert is_transient(psycopg.OperationalError("connection lost"))
    assert is_transient(psycopg.errors.ReadOnlySqlTransaction())
    assert is_transient(psycopg.errors.SerializationFailure())
    assert not is_transient(psycopg.errors.UniqueViolation())
    assert not is_transient(ValueError())

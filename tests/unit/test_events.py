"""Typed events: keys, Avro records, and field-level validation that lists every problem."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from floodwall.events.model import InventoryEvent, OrderEvent, OrderEventType, OrderItem, to_micros
from floodwall.events.validation import EventValidationError, problems, validate

ORDER_ID = UUID("6f1c5c4e-1d2b-4c8e-9a57-3f6e2b7d9a10")


def placed(**overrides: object) -> OrderEvent:
    fields: dict[str, object] = dict(
        order_id=ORDER_ID,
        customer_id="c-1",
        region="eu-west",
        currency="EUR",
        items=[
            OrderItem(sku="SKU-1", quantity=2, unit_price_minor=1999),
            OrderItem(sku="SKU-2", quantity=1, unit_price_minor=500),
        ],
    )
    fields.update(overrides)
    return OrderEvent.placed(**fields)  # type: ignore[arg-type]


def paths(event: object) -> list[str]:
    return [p.path for p in problems(event)]


def test_valid_events_pass() -> None:
    validate(placed())
    validate(
        OrderEvent.paid(order_id=ORDER_ID, customer_id="c", region="r", currency="USD", amount_minor=4498)
    )
    validate(OrderEvent.cancelled(order_id=ORDER_ID, customer_id="c", region="r", currency="USD", reason="x"))
    validate(InventoryEvent.restock(sku="SKU-1", warehouse="w1", quantity=10))
    validate(InventoryEvent.reservation(sku="SKU-1", warehouse="w1", quantity=1, order_id=ORDER_ID))
    validate(InventoryEvent.correction(sku="SKU-1", warehouse="w1", delta=-3))


def test_placed_total_and_keys() -> None:
    event = placed()
    assert event.amount_minor == 2 * 1999 + 500
    assert event.key() == str(ORDER_ID).encode()
    assert InventoryEvent.restock(sku="SKU-9", warehouse="w", quantity=1).key() == b"SKU-9"


def test_every_bad_field_is_listed_at_once() -> None:
    event = placed(
        currency="usd",
        items=[OrderItem(sku="", quantity=-1, unit_price_minor=9.99)],  # type: ignore[arg-type]
        customer_id="",
    )
    with pytest.raises(EventValidationError) as err:
        validate(event)
    found = {p.path: p.message for p in err.value.problems}
    assert set(found) == {
        "currency",
        "customer_id",
        "items[0].sku",
        "items[0].quantity",
        "items[0].unit_price_minor",
    }
    assert "ISO 4217" in found["currency"]
    assert "float 9.99" in found["items[0].unit_price_minor"]
    assert "between 1 and" in found["items[0].quantity"]


@pytest.mark.parametrize("code", ["usd", "US", "EURO", "XYZ", "", None])
def test_wrong_currency_codes(code: object) -> None:
    assert paths(placed(currency=code)) == ["currency"]


def test_float_money_is_never_rounded() -> None:
    event = OrderEvent.paid(
        order_id=ORDER_ID,
        customer_id="c",
        region="r",
        currency="EUR",
        amount_minor=19.99,  # type: ignore[arg-type]
    )
    assert paths(event) == ["amount_minor"]


def test_order_shape_rules() -> None:
    assert paths(placed(items=[])) == ["items"]
    paid_with_items = OrderEvent(
        event_type=OrderEventType.PAID,
        order_id=ORDER_ID,
        customer_id="c",
        region="r",
        currency="EUR",
        items=(OrderItem(sku="S", quantity=1, unit_price_minor=1),),
    )
    assert paths(paid_with_items) == ["items"]
    wrong_total = OrderEvent(
        event_type=OrderEventType.PLACED,
        order_id=ORDER_ID,
        customer_id="c",
        region="r",
        currency="EUR",
        items=(OrderItem(sku="S", quantity=2, unit_price_minor=5),),
        amount_minor=11,
    )
    assert paths(wrong_total) == ["amount_minor"]


def test_inventory_rules() -> None:
    assert paths(InventoryEvent.restock(sku="S", warehouse="w", quantity=0)) == ["quantity"]
    assert paths(InventoryEvent.reservation(sku="S", warehouse="w", quantity=-2, order_id=ORDER_ID)) == [
        "quantity"
    ]
    assert paths(InventoryEvent.correction(sku="S", warehouse="w", delta=0)) == ["quantity"]
    assert paths(InventoryEvent.restock(sku="S" * 65, warehouse="", quantity=True)) == [
        "sku",
        "warehouse",
        "quantity",
    ]


def test_identity_rules() -> None:
    naive = datetime(2026, 1, 1)
    assert paths(InventoryEvent.restock(sku="S", warehouse="w", quantity=1, occurred_at=naive)) == [
        "occurred_at"
    ]
    assert paths(placed(order_id="not-a-uuid")) == ["order_id"]
    assert paths("an order") == ["event"]


def test_records_match_the_schema_fields() -> None:
    moment = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
    event_id = uuid4()
    record = placed(event_id=event_id, occurred_at=moment).to_record()
    assert record["event_id"] == str(event_id) and record["event_type"] == "placed"
    assert record["occurred_at"] == to_micros(moment) == 1795348800123456
    assert record["items"][0] == {"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1999}
    assert record["reason"] is None
    inv = InventoryEvent.reservation(sku="S", warehouse="w", quantity=2, order_id=ORDER_ID).to_record()
    assert inv["kind"] == "reservation" and inv["order_id"] == str(ORDER_ID)


def test_text_postgres_cannot_store_is_refused_at_the_source() -> None:
    assert paths(InventoryEvent.restock(sku="S\x00", warehouse="w\x00", quantity=1)) == ["sku", "warehouse"]

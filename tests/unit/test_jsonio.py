"""Events from JSON lines, as `floodwall produce` reads them."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from producers.events import InventoryEvent, OrderEvent
from producers.jsonio import event_from_json
from producers.validation import EventValidationError

ORDER = "6f1c5c4e-1d2b-4c8e-9a57-3f6e2b7d9a10"


def problems_of(obj: object) -> dict[str, str]:
    with pytest.raises(EventValidationError) as err:
        event_from_json(obj)
    return {p.path: p.message for p in err.value.problems}


def test_placed_order_from_json() -> None:
    line = json.dumps(
        {
            "type": "order.placed",
            "order_id": ORDER,
            "customer_id": "c-1",
            "region": "eu",
            "currency": "EUR",
            "occurred_at": "2026-11-22T10:00:00+00:00",
            "items": [{"sku": "A", "quantity": 2, "unit_price_minor": 150}],
        }
    )
    event = event_from_json(json.loads(line))
    assert isinstance(event, OrderEvent)
    assert event.order_id == UUID(ORDER) and event.amount_minor == 300 and event.items[0].sku == "A"
    assert event.occurred_at.isoformat() == "2026-11-22T10:00:00+00:00"


def test_reservation_from_json() -> None:
    event = event_from_json(
        {"type": "inventory.reservation", "sku": "A", "warehouse": "w", "quantity": 1, "order_id": ORDER}
    )
    assert isinstance(event, InventoryEvent) and event.order_id == UUID(ORDER)


def test_missing_unknown_and_float_fields_are_named() -> None:
    found = problems_of(
        {
            "type": "order.placed",
            "customer_id": "c",
            "region": "eu",
            "currency": "EUR",
            "colour": "red",
            "items": [{"sku": "A", "quantity": 1, "unit_price_minor": 1.5}],
        }
    )
    assert set(found) == {"order_id", "colour", "items[0].unit_price_minor"}
    assert found["order_id"] == "is required (a UUID)" and found["colour"] == "unknown field"


def test_bad_type_and_bad_timestamp() -> None:
    assert set(problems_of({"type": "order.shipped"})) == {"type"}
    assert set(problems_of([1, 2])) == {"line"}
    found = problems_of(
        {
            "type": "inventory.restock",
            "sku": "A",
            "warehouse": "w",
            "quantity": 1,
            "occurred_at": "yesterday",
            "event_id": "nope",
        }
    )
    assert set(found) == {"occurred_at", "event_id"}

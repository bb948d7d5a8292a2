"""Decoded Avro records back into typed events (the same types the producer SDK emits)."""

from __future__ import annotations

from typing import Any

from floodwall.producers.events import (
    AdjustmentKind,
    Event,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    OrderItem,
)


class RecordError(ValueError):
    """A decoded record cannot be an event (a field missing or of the wrong kind)."""


def event_from_record(schema_name: str, record: dict[str, Any]) -> Event:
    """The event a decoded record of ``schema_name`` describes. Raises RecordError."""
    try:
        if schema_name == OrderEvent.schema_name:
            return OrderEvent(
                event_type=OrderEventType(record["event_type"]),
                order_id=record["order_id"],
                customer_id=record["customer_id"],
                region=record["region"],
                currency=record["currency"],
                items=tuple(OrderItem(**item) for item in record["items"]),
                amount_minor=record["amount_minor"],
                reason=record.get("reason"),
                event_id=record["event_id"],
                occurred_at=record["occurred_at"],
            )
        if schema_name == InventoryEvent.schema_name:
            return InventoryEvent(
                kind=AdjustmentKind(record["kind"]),
                sku=record["sku"],
                warehouse=record["warehouse"],
                quantity=record["quantity"],
                order_id=record.get("order_id"),
                event_id=record["event_id"],
                occurred_at=record["occurred_at"],
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{schema_name} record is incomplete: {type(exc).__name__}: {exc}") from None
    raise RecordError(f"no event type for schema {schema_name!r}")

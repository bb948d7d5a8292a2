"""Events from JSON objects — how shell users and services in other languages use ``floodwall produce``.

One object per line, with a ``type`` naming the event::

    {"type": "order.placed", "order_id": "…uuid…", "customer_id": "c-1", "region": "eu-west",
     "currency": "EUR", "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1999}]}
    {"type": "order.paid", "order_id": "…", "customer_id": "c-1", "region": "eu-west", "currency": "EUR",
     "amount_minor": 3998}
    {"type": "order.cancelled", …, "reason": "customer request"}
    {"type": "inventory.restock", "sku": "SKU-1", "warehouse": "w1", "quantity": 50}
    {"type": "inventory.reservation", "sku": "SKU-1", "warehouse": "w1", "quantity": 2, "order_id": "…"}
    {"type": "inventory.release", …}
    {"type": "inventory.correction", "sku": "SKU-1", "warehouse": "w1", "quantity": -3}

``event_id`` (UUID) and ``occurred_at`` (ISO 8601 with a timezone) are optional: an id from ``new_id``
(random unless the caller derives it, see producers/event_ids.py) and the current time are used when
absent. Unknown fields are errors, and so are floats where money is expected. Decoding the line safely
(size, UTF-8, hostile JSON) is producers/jsonlines.py's part.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from floodwall.events.model import (
    AdjustmentKind,
    Event,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    OrderItem,
    order_total,
    utc_now,
)
from floodwall.events.validation import EventValidationError, FieldProblem, validate

_ORDER_FIELDS = {
    "type",
    "event_id",
    "occurred_at",
    "order_id",
    "customer_id",
    "region",
    "currency",
    "items",
    "amount_minor",
    "reason",
}
_INVENTORY_FIELDS = {"type", "event_id", "occurred_at", "sku", "warehouse", "quantity", "order_id"}
_ITEM_FIELDS = {"sku", "quantity", "unit_price_minor"}
TYPES = [f"order.{t}" for t in OrderEventType] + [f"inventory.{k}" for k in AdjustmentKind]


def event_from_json(obj: Any, new_id: Callable[[], UUID] = uuid4) -> Event:
    """Build and validate an event from a decoded JSON object.

    ``new_id`` makes the event id when the object has no ``event_id`` (only then is it called).
    Raises EventValidationError naming every bad or unknown field.
    """
    if not isinstance(obj, dict):
        raise EventValidationError([FieldProblem("line", "must be a JSON object")])
    kind = obj.get("type")
    if kind not in TYPES:
        raise EventValidationError([FieldProblem("type", f"must be one of {', '.join(TYPES)}, got {kind!r}")])
    found: list[FieldProblem] = []
    family, name = str(kind).split(".")
    allowed = _ORDER_FIELDS if family == "order" else _INVENTORY_FIELDS
    found += [FieldProblem(k, "unknown field") for k in sorted(set(obj) - allowed)]
    ident = {"event_id": _uuid(found, obj, "event_id", new_id), "occurred_at": _moment(found, obj)}
    event: Event
    if family == "order":
        items = _items(found, obj.get("items", []))
        event_type = OrderEventType(name)
        amount = obj.get("amount_minor")
        if event_type is OrderEventType.PLACED and amount is None:
            amount = order_total(items)
        event = OrderEvent(
            event_type=event_type,
            order_id=_uuid(found, obj, "order_id", None),
            customer_id=_raw(obj, "customer_id"),
            region=_raw(obj, "region"),
            currency=_raw(obj, "currency"),
            items=items,
            amount_minor=0 if amount is None else amount,
            reason=obj.get("reason"),
            **ident,
        )
    else:
        order_id = _uuid(found, obj, "order_id", None) if obj.get("order_id") is not None else None
        event = InventoryEvent(
            kind=AdjustmentKind(name),
            sku=_raw(obj, "sku"),
            warehouse=_raw(obj, "warehouse"),
            quantity=_raw(obj, "quantity"),
            order_id=order_id,
            **ident,
        )
    try:
        validate(event)
    except EventValidationError as exc:
        # Parse problems first; drop validation's echo of a field that already failed to parse.
        seen = {p.path for p in found}
        found += [p for p in exc.problems if p.path not in seen]
    if found:
        raise EventValidationError(found)
    return event


def _uuid(found: list[FieldProblem], obj: dict[str, Any], name: str, default: Any) -> Any:
    raw = obj.get(name)
    if raw is None:
        if default is None:
            found.append(FieldProblem(name, "is required (a UUID)"))
            return None
        return default()
    try:
        return UUID(str(raw))
    except ValueError:
        found.append(FieldProblem(name, f"must be a UUID, got {raw!r}"))
        return None


def _moment(found: list[FieldProblem], obj: dict[str, Any]) -> Any:
    raw = obj.get("occurred_at")
    if raw is None:
        return utc_now()
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        found.append(FieldProblem("occurred_at", f"must be ISO 8601 with a timezone, got {raw!r}"))
        return utc_now()
    return moment


def _items(found: list[FieldProblem], raw: Any) -> tuple[OrderItem, ...]:
    if not isinstance(raw, list):
        found.append(FieldProblem("items", "must be a list"))
        return ()
    items = []
    for n, entry in enumerate(raw):
        if not isinstance(entry, dict):
            found.append(
                FieldProblem(f"items[{n}]", "must be an object with sku, quantity, unit_price_minor")
            )
            continue
        found += [FieldProblem(f"items[{n}].{k}", "unknown field") for k in sorted(set(entry) - _ITEM_FIELDS)]
        items.append(
            OrderItem(
                sku=_raw(entry, "sku"),
                quantity=_raw(entry, "quantity"),
                unit_price_minor=_raw(entry, "unit_price_minor"),
            )
        )
    return tuple(items)


def _raw(obj: dict[str, Any], name: str) -> Any:
    """A field as the JSON had it (possibly missing or of the wrong type): validate() reports it."""
    return obj.get(name)

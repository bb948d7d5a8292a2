"""The SDK's cheaper paths agree with the full ones: ``is_valid`` with ``problems()`` on valid and invalid
events, and ``EventSerializer`` byte for byte with the registry's encoder of the record as the schema
defines it (what the serializer wrote before the fast path)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from floodwall.events import EventSerializer, InventoryEvent, OrderEvent, OrderEventType, OrderItem
from floodwall.events.model import Event, to_micros
from floodwall.events.validation import (
    MAX_MINOR,
    MAX_QUANTITY,
    BatchValidationError,
    EventValidationError,
    is_valid,
    problems,
    validate_many,
)
from floodwall.schemas.registry import SchemaRegistry

TEXTS = ["c-1", "x" * 64, "ünïcödé", "日本", " padded ", "a\tb", "e\u0301"]


class _UUIDChild(UUID):
    """A UUID subclass: valid for the full validator, not taken by the fast path's exact type test."""


def random_event(rng: random.Random) -> Event:
    """A valid event of any type, with text, sizes and numbers drawn across their allowed ranges."""
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(2**50))
    ident: dict[str, Any] = {"event_id": uuid4(), "occurred_at": moment}
    common: dict[str, Any] = {
        "order_id": uuid4(),
        "customer_id": rng.choice(TEXTS),
        "region": rng.choice(TEXTS)[:32],
        "currency": rng.choice(["EUR", "USD", "JPY", "BHD"]),
    }
    kind = rng.randrange(7)
    if kind == 0:
        items = [
            OrderItem(
                sku=rng.choice(TEXTS),
                quantity=rng.choice([1, MAX_QUANTITY, rng.randint(1, 1000)]),
                unit_price_minor=rng.choice([0, 1, rng.randrange(10**6)]),
            )
            for _ in range(rng.choice([1, 2, 3, 17]))
        ]
        return OrderEvent.placed(items=items, **common, **ident)
    if kind == 1:
        return OrderEvent.paid(
            amount_minor=rng.choice([0, MAX_MINOR, rng.randrange(10**6)]), **common, **ident
        )
    if kind == 2:
        reason = rng.choice([None, "", "out of stock", "ü" * 500])
        return OrderEvent.cancelled(reason=reason, **common, **ident)
    sku, warehouse = rng.choice(TEXTS), rng.choice(TEXTS)[:32]
    quantity = rng.randint(1, MAX_QUANTITY)
    if kind == 3:
        return InventoryEvent.restock(sku=sku, warehouse=warehouse, quantity=quantity, **ident)
    if kind == 4:
        return InventoryEvent.reservation(
            sku=sku, warehouse=warehouse, quantity=quantity, order_id=uuid4(), **ident
        )
    if kind == 5:
        return InventoryEvent.release(
            sku=sku, warehouse=warehouse, quantity=quantity, order_id=uuid4(), **ident
        )
    delta = rng.choice([-1, 1, -(2**31 - 1), 2**31 - 1, rng.randint(-500, -1)])
    return InventoryEvent.correction(sku=sku, warehouse=warehouse, delta=delta, **ident)


# Values that break (or, for a few, only look as if they break) each field.
BAD_TEXT = ["", "   ", "\t", "x" * 65, "a\x00b", "\ud800", 7, None, b"bytes"]
BAD_INT = [0, -1, MAX_QUANTITY + 1, True, 2.0, "3", None, 2**63]
COMMON_BAD: dict[str, list[object]] = {
    "event_id": ["not-a-uuid", None, str(uuid4()), _UUIDChild(int=5)],
    "occurred_at": [
        datetime(2026, 1, 1),
        "2026-01-01",
        None,
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
}
ORDER_BAD: dict[str, list[object]] = {
    **COMMON_BAD,
    "event_type": ["placed", None, OrderEventType.PAID, OrderEventType.CANCELLED],
    "order_id": ["x", None, _UUIDChild(int=9)],
    "customer_id": BAD_TEXT,
    "region": [*BAD_TEXT, "r" * 33],
    "currency": ["eur", "XXX", "", None, 978],
    "items": [
        (),
        [],
        None,
        "items",
        tuple(OrderItem(sku="S", quantity=1, unit_price_minor=1) for _ in range(501)),
        (OrderItem(sku="S", quantity=1, unit_price_minor=1),),
        (object(),),
    ],
    "amount_minor": [-1, 0, 1, 1.0, MAX_MINOR + 1, True, None],
    "reason": ["r", "r" * 501, "\ud800", 5, "a\x00"],
}
INVENTORY_BAD: dict[str, list[object]] = {
    **COMMON_BAD,
    "kind": ["restock", None],
    "sku": BAD_TEXT,
    "warehouse": [*BAD_TEXT, "w" * 33],
    "quantity": [*BAD_INT, -(2**31), 2**31],
    "order_id": ["x", 5, _UUIDChild(int=3)],
}
ITEM_BAD: dict[str, list[object]] = {
    "sku": BAD_TEXT,
    "quantity": BAD_INT,
    "unit_price_minor": [-1, 1.5, True, None, MAX_MINOR + 1],
}


def changed(value: object, **fields: object) -> Any:
    """``dataclasses.replace`` for values the types forbid (what a careless caller may hand in)."""
    replace: Any = dataclasses.replace
    return replace(value, **fields)


def mutations(event: Event, rng: random.Random) -> list[object]:
    """``event`` with one field (or one order item's field) replaced by each of that field's bad values."""
    table = ORDER_BAD if isinstance(event, OrderEvent) else INVENTORY_BAD
    out: list[object] = []
    for name, values in table.items():
        out += [changed(event, **{name: value}) for value in values]
    if isinstance(event, OrderEvent) and event.items:
        for name, values in ITEM_BAD.items():
            for value in values:
                items = list(event.items)
                n = rng.randrange(len(items))
                items[n] = changed(items[n], **{name: value})
                out.append(changed(event, items=tuple(items)))
    return out


def test_the_fast_path_says_valid_exactly_where_the_full_validator_finds_nothing() -> None:
    rng = random.Random(14)
    valid = [random_event(rng) for _ in range(400)]
    candidates: list[object] = [*valid, "not an event", None, [valid[0]]]
    for event in valid[:120]:
        candidates += mutations(event, rng)
    verdicts = [(is_valid(c), not problems(c)) for c in candidates]
    assert [fast for fast, _ in verdicts] == [full for _, full in verdicts]
    # The table above really covers both answers, and the generated events are all valid.
    assert all(is_valid(e) for e in valid)
    assert sum(fast for fast, _ in verdicts) < len(candidates) - 2000


def test_what_the_fast_path_does_not_take_is_still_valid_when_the_full_validator_says_so() -> None:
    item = OrderItem(sku="S", quantity=2, unit_price_minor=3)
    order = OrderEvent.placed(order_id=uuid4(), customer_id="c", region="r", currency="EUR", items=[item])
    unusual = [
        changed(order, event_id=_UUIDChild(int=1)),  # a UUID subclass
        changed(order, items=[item]),  # a list, not a tuple
        changed(order, customer_id="Zoë"),  # non-ASCII text
    ]
    assert all(problems(e) == [] for e in unusual)
    assert all(is_valid(e) for e in unusual)


def test_a_batch_names_every_bad_event_by_its_index_and_id() -> None:
    rng = random.Random(3)
    events: list[object] = [random_event(rng) for _ in range(5)]
    bad_one = changed(events[1], event_id="nope")
    bad_three = changed(events[3], occurred_at=datetime(2026, 1, 1))
    events[1], events[3] = bad_one, bad_three
    with pytest.raises(BatchValidationError) as refused:
        validate_many(events)
    assert isinstance(refused.value, EventValidationError)
    assert sorted(refused.value.invalid) == [1, 3]
    assert refused.value.invalid[3].event_id == str(bad_three.event_id)
    paths = [p.path for p in refused.value.problems]
    assert paths == ["events[1].event_id", "events[3].occurred_at"]
    validate_many(events[:1] + events[4:])  # the valid ones alone pass


# ---- byte-identical encoding ------------------------------------------------------------------------


def schema_record(event: Event) -> dict[str, Any]:
    """The record exactly as the schema defines it, built the plain way (what to_record() built before it
    was tuned): the reference the serializer's bytes are held to."""
    if isinstance(event, OrderEvent):
        return {
            "event_id": str(event.event_id),
            "event_type": event.event_type.value,
            "occurred_at": to_micros(event.occurred_at),
            "order_id": str(event.order_id),
            "customer_id": event.customer_id,
            "region": event.region,
            "currency": event.currency,
            "items": [
                {"sku": i.sku, "quantity": i.quantity, "unit_price_minor": i.unit_price_minor}
                for i in event.items
            ],
            "amount_minor": event.amount_minor,
            "reason": event.reason,
        }
    return {
        "event_id": str(event.event_id),
        "kind": event.kind.value,
        "occurred_at": to_micros(event.occurred_at),
        "sku": event.sku,
        "warehouse": event.warehouse,
        "quantity": event.quantity,
        "order_id": None if event.order_id is None else str(event.order_id),
    }


def test_the_serializer_writes_the_same_bytes_as_the_registry_encoder_for_many_random_events() -> None:
    rng = random.Random(2026)
    events = [random_event(rng) for _ in range(3000)]
    registry = SchemaRegistry.default()
    reference = [registry.encoder(type(e).schema_name)(schema_record(e)) for e in events]
    serializer = EventSerializer()
    assert [serializer(e) for e in events] == reference
    assert serializer.many(events) == reference
    assert [e.to_record() for e in events] == [schema_record(e) for e in events]
    assert len({type(e) for e in events}) == 2 and len(set(reference)) == len(events)


def test_the_batch_serializer_encodes_nothing_when_one_event_is_invalid() -> None:
    rng = random.Random(5)
    events = [random_event(rng) for _ in range(4)]
    events[2] = changed(events[2], event_id="bad")
    with pytest.raises(BatchValidationError) as refused:
        EventSerializer().many(events)
    assert list(refused.value.invalid) == [2]
    assert len(EventSerializer(validate=False).many(events[:2])) == 2

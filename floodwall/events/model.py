"""Typed order and inventory events — the one event model of every role.

Services hand these to the SDK (:class:`floodwall.producers.producer.EventProducer`), the sink decodes
them back into the same types, the load generator predicts their outcome. Each event knows its Avro
schema, its Kafka key (order id or SKU, so one order's and one SKU's events stay in order) and how to
become an Avro record. Money is integer minor units, never float. Construct events with the class
methods (``OrderEvent.placed(...)``, ``InventoryEvent.reservation(...)``); validation
(:mod:`floodwall.events.validation`) and the wire codec (:mod:`floodwall.events.codec`) sit beside.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID, uuid4

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (moment - _EPOCH) // _MICROSECOND


class OrderEventType(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    CANCELLED = "cancelled"


class AdjustmentKind(StrEnum):
    RESTOCK = "restock"
    RESERVATION = "reservation"
    RELEASE = "release"
    CORRECTION = "correction"

    @property
    def sign(self) -> int:
        """How the kind moves stock: -1 for a reservation (it takes units), +1 otherwise (restock and
        release add units; a correction's quantity carries its own sign). The sink's decision, its ledger
        and the load generator's prediction all use this one definition."""
        return -1 if self is AdjustmentKind.RESERVATION else 1


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderItem:
    """One order line: ``quantity`` units of ``sku`` at ``unit_price_minor`` each."""

    sku: str
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """Something that happened to an order. Kafka key: ``order_id``."""

    schema_name: ClassVar[str] = "order_event"

    event_type: OrderEventType
    order_id: UUID
    customer_id: str
    region: str
    currency: str
    items: tuple[OrderItem, ...] = ()
    amount_minor: int = 0
    reason: str | None = None
    event_id: UUID = field(default_factory=uuid4)
    occurred_at: datetime = field(default_factory=utc_now)

    @classmethod
    def placed(
        cls,
        *,
        order_id: UUID,
        customer_id: str,
        region: str,
        currency: str,
        items: Iterable[OrderItem],
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> OrderEvent:
        """A new order; ``amount_minor`` is the order total, computed from the items."""
        lines = tuple(items)
        total = order_total(lines)
        return cls(
            event_type=OrderEventType.PLACED,
            order_id=order_id,
            customer_id=customer_id,
            region=region,
            currency=currency,
            items=lines,
            amount_minor=total,
            **_identity(event_id, occurred_at),
        )

    @classmethod
    def paid(
        cls,
        *,
        order_id: UUID,
        customer_id: str,
        region: str,
        currency: str,
        amount_minor: int,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> OrderEvent:
        """Payment of ``amount_minor`` captured for the order."""
        return cls(
            event_type=OrderEventType.PAID,
            order_id=order_id,
            customer_id=customer_id,
            region=region,
            currency=currency,
            amount_minor=amount_minor,
            **_identity(event_id, occurred_at),
        )

    @classmethod
    def cancelled(
        cls,
        *,
        order_id: UUID,
        customer_id: str,
        region: str,
        currency: str,
        reason: str | None = None,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> OrderEvent:
        """The order is void."""
        return cls(
            event_type=OrderEventType.CANCELLED,
            order_id=order_id,
            customer_id=customer_id,
            region=region,
            currency=currency,
            reason=reason,
            **_identity(event_id, occurred_at),
        )

    def key(self) -> bytes:
        return str(self.order_id).encode()

    def to_record(self) -> dict[str, Any]:
        """The Avro record (matches schemas/avro/order_event.avsc).

        Built on every emit, so written for speed: ``_value_`` is the enum's plain string without the
        ``.value`` property call, and a plain loop builds the items without a comprehension's frame.
        """
        items = []
        for i in self.items:
            items.append({"sku": i.sku, "quantity": i.quantity, "unit_price_minor": i.unit_price_minor})
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type._value_,
            "occurred_at": (self.occurred_at - _EPOCH) // _MICROSECOND,  # to_micros(), inlined
            "order_id": str(self.order_id),
            "customer_id": self.customer_id,
            "region": self.region,
            "currency": self.currency,
            "items": items,
            "amount_minor": self.amount_minor,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryEvent:
    """A stock adjustment for one SKU in one warehouse. Kafka key: ``sku``.

    ``quantity`` is positive for restock, reservation and release (the kind gives the sign) and a signed,
    non-zero difference for a correction.
    """

    schema_name: ClassVar[str] = "inventory_event"

    kind: AdjustmentKind
    sku: str
    warehouse: str
    quantity: int
    order_id: UUID | None = None
    event_id: UUID = field(default_factory=uuid4)
    occurred_at: datetime = field(default_factory=utc_now)

    @classmethod
    def restock(cls, *, sku: str, warehouse: str, quantity: int, **ident: Any) -> InventoryEvent:
        return cls(kind=AdjustmentKind.RESTOCK, sku=sku, warehouse=warehouse, quantity=quantity, **ident)

    @classmethod
    def reservation(
        cls, *, sku: str, warehouse: str, quantity: int, order_id: UUID, **ident: Any
    ) -> InventoryEvent:
        """Hold ``quantity`` units for ``order_id``; the sink rejects it if it would oversell."""
        return cls(
            kind=AdjustmentKind.RESERVATION,
            sku=sku,
            warehouse=warehouse,
            quantity=quantity,
            order_id=order_id,
            **ident,
        )

    @classmethod
    def release(
        cls, *, sku: str, warehouse: str, quantity: int, order_id: UUID, **ident: Any
    ) -> InventoryEvent:
        return cls(
            kind=AdjustmentKind.RELEASE,
            sku=sku,
            warehouse=warehouse,
            quantity=quantity,
            order_id=order_id,
            **ident,
        )

    @classmethod
    def correction(cls, *, sku: str, warehouse: str, delta: int, **ident: Any) -> InventoryEvent:
        return cls(kind=AdjustmentKind.CORRECTION, sku=sku, warehouse=warehouse, quantity=delta, **ident)

    def key(self) -> bytes:
        return self.sku.encode()

    @property
    def stock_delta(self) -> int:
        """The change this adjustment makes to the stock level: ``kind.sign * quantity``."""
        return self.kind.sign * self.quantity

    def to_record(self) -> dict[str, Any]:
        """The Avro record (matches schemas/avro/inventory_event.avsc)."""
        return {
            "event_id": str(self.event_id),
            "kind": self.kind._value_,  # the plain string, without the .value property call
            "occurred_at": (self.occurred_at - _EPOCH) // _MICROSECOND,  # to_micros(), inlined
            "sku": self.sku,
            "warehouse": self.warehouse,
            "quantity": self.quantity,
            "order_id": None if self.order_id is None else str(self.order_id),
        }


Event = OrderEvent | InventoryEvent


def stock_after(available: int, event: InventoryEvent) -> int | None:
    """The stock level once ``event`` is applied to ``available`` units, or None when it may not be:
    stock never goes below zero, so such an adjustment is rejected and leaves the level as it was.

    The one stock rule: the sink decides by it (consumers/decide.py) and the load generator predicts by it
    (loadgen/model.py), so the prediction cannot drift from the decision."""
    after = available + event.stock_delta
    return None if after < 0 else after


def event_type_of(event: Event) -> str:
    """``order.placed``, ``inventory.reservation``, …"""
    if isinstance(event, OrderEvent):
        return f"order.{event.event_type.value}"
    return f"inventory.{event.kind.value}"


def _identity(event_id: UUID | None, occurred_at: datetime | None) -> dict[str, Any]:
    ident: dict[str, Any] = {}
    if event_id is not None:
        ident["event_id"] = event_id
    if occurred_at is not None:
        ident["occurred_at"] = occurred_at
    return ident


def is_int(*values: object) -> bool:
    """True when every value is a real int (a bool is not a quantity, a float is not money)."""
    # ``type(v) is int`` is the exact test (bool and other int subclasses fail it) and, in a loop, about
    # four times cheaper than all(isinstance(...)): the sink validates every consumed event with it.
    for v in values:  # noqa: SIM110 (the generator is what this avoids)
        if type(v) is not int:
            return False
    return True


def order_total(items: Iterable[OrderItem]) -> int:
    """Sum of quantity x unit price over the items whose numbers are ints (validation reports the rest)."""
    return sum(i.quantity * i.unit_price_minor for i in items if is_int(i.quantity, i.unit_price_minor))

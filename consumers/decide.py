"""What a batch of events does to the database — pure decision logic, no I/O.

Given the decoded, valid events of a batch (in partition-offset order) and the current state they touch
(already-processed event ids, order statuses, stock levels), :func:`plan_batch` says, event by event,
whether it is applied or rejected (with a reason), and which rows to write. The sink then writes the plan
in one transaction. Rules:

- An event id already processed, or repeated inside the batch, is skipped: a producer-side replay is
  dropped, never applied twice (exactly-once effect).
- Orders: ``placed`` creates the order (a second ``placed`` for the same order is rejected);
  ``paid`` needs a placed, unpaid order; ``cancelled`` needs an order that is not cancelled yet.
- Stock never goes negative: a reservation (or correction) that would take ``available`` below zero is
  rejected with the available quantity in the reason, and leaves the stock untouched. Events of one SKU
  arrive in key order, so the outcome is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from floodwall.events.model import (
    AdjustmentKind,
    Event,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    event_type_of,
    stock_after,
)

StockKey = tuple[str, str]  # (sku, warehouse)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One valid event and where it came from."""

    event: Event
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The fate of one event: a row of ``processed_events``."""

    incoming: Incoming
    event_type: str
    applied: bool
    reason: str | None
    code: str | None = None  # low-cardinality kind of rejection, for metrics


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str  # e.g. insufficient_stock (a metric label)
    reason: str  # for people: carries the numbers


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: UUID
    customer_id: str
    region: str
    status: str
    currency: str
    total_minor: int
    placed_at: datetime
    updated_at: datetime
    last_event_id: UUID


@dataclass(frozen=True, slots=True)
class LedgerRow:
    event: InventoryEvent
    applied: bool
    reason: str | None
    available_after: int | None


@dataclass
class Plan:
    """Rows to write for one batch. ``orders`` holds new orders and status changes (final state per order);
    ``new_order_ids`` says which of them are inserts; ``stock`` the final level per SKU and warehouse."""

    outcomes: list[Outcome] = field(default_factory=list)
    orders: dict[UUID, OrderRow] = field(default_factory=dict)
    new_order_ids: set[UUID] = field(default_factory=set)
    items: list[tuple[UUID, int, str, int, int]] = field(default_factory=list)  # order, line, sku, qty, price
    ledger: list[LedgerRow] = field(default_factory=list)
    stock: dict[StockKey, tuple[int, UUID]] = field(default_factory=dict)  # level, last event id

    @property
    def applied(self) -> int:
        return sum(o.applied for o in self.outcomes)

    @property
    def rejected(self) -> int:
        return sum(not o.applied for o in self.outcomes)


def plan_batch(
    batch: Iterable[Incoming],
    processed_ids: set[UUID],
    order_status: Mapping[UUID, OrderRow],
    stock_levels: Mapping[StockKey, int],
) -> Plan:
    """Decide every event of ``batch``; the inputs are the database state before the batch."""
    plan = Plan()
    seen = set(processed_ids)
    for incoming in batch:
        event = incoming.event
        if event.event_id in seen:
            continue  # a replay: already applied (or rejected) once
        seen.add(event.event_id)
        if isinstance(event, OrderEvent):
            rejected = _apply_order(plan, event, order_status)
        else:
            rejected = _apply_inventory(plan, event, stock_levels)
        if rejected is None:
            plan.outcomes.append(Outcome(incoming, event_type_of(event), True, None))
        else:
            plan.outcomes.append(
                Outcome(incoming, event_type_of(event), False, rejected.reason, rejected.code)
            )
    return plan


def _apply_order(plan: Plan, event: OrderEvent, before: Mapping[UUID, OrderRow]) -> Rejection | None:
    current = plan.orders.get(event.order_id) or before.get(event.order_id)
    if event.event_type is OrderEventType.PLACED:
        if current is not None:
            return Rejection("order_exists", f"order already exists (status {current.status})")
        plan.orders[event.order_id] = OrderRow(
            event.order_id,
            event.customer_id,
            event.region,
            "placed",
            event.currency,
            event.amount_minor,
            event.occurred_at,
            event.occurred_at,
            event.event_id,
        )
        plan.new_order_ids.add(event.order_id)
        for line, item in enumerate(event.items, start=1):
            plan.items.append((event.order_id, line, item.sku, item.quantity, item.unit_price_minor))
        return None
    if current is None:
        return Rejection("unknown_order", "unknown order")
    if event.event_type is OrderEventType.PAID:
        if current.status != "placed":
            return Rejection("invalid_transition", f"paid after {current.status}")
        new_status = "paid"
    else:
        if current.status == "cancelled":
            return Rejection("invalid_transition", "already cancelled")
        new_status = "cancelled"
    plan.orders[event.order_id] = OrderRow(
        current.order_id,
        current.customer_id,
        current.region,
        new_status,
        current.currency,
        current.total_minor,
        current.placed_at,
        event.occurred_at,
        event.event_id,
    )
    return None


def _apply_inventory(plan: Plan, event: InventoryEvent, before: Mapping[StockKey, int]) -> Rejection | None:
    key = (event.sku, event.warehouse)
    current = plan.stock[key][0] if key in plan.stock else before.get(key, 0)
    after = stock_after(current, event)
    if after is None:
        if event.kind is AdjustmentKind.RESERVATION:
            rejection = Rejection(
                "insufficient_stock", f"insufficient stock: {current} available, {event.quantity} requested"
            )
        else:
            rejection = Rejection(
                "negative_stock",
                f"correction by {event.stock_delta} would make stock negative ({current} available)",
            )
        plan.ledger.append(LedgerRow(event, False, rejection.reason, None))
        return rejection
    plan.stock[key] = (after, event.event_id)
    plan.ledger.append(LedgerRow(event, True, None, after))
    return None

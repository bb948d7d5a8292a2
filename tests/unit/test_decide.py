"""Batch decisions: exactly-once by event id, order transitions, stock never negative."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from floodwall.consumers.decide import Incoming, OrderRow, plan_batch
from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem

ORDER = UUID("00000000-0000-4000-8000-000000000001")


def incoming(events: list[Event]) -> list[Incoming]:
    return [Incoming(e, "t", 0, n) for n, e in enumerate(events)]


def placed(order_id: UUID = ORDER) -> OrderEvent:
    return OrderEvent.placed(order_id=order_id, customer_id="c", region="eu", currency="EUR",
                             items=[OrderItem(sku="A", quantity=2, unit_price_minor=300)])  # fmt: skip


def paid(order_id: UUID = ORDER) -> OrderEvent:
    return OrderEvent.paid(order_id=order_id, customer_id="c", region="eu", currency="EUR", amount_minor=600)


def cancelled(order_id: UUID = ORDER) -> OrderEvent:
    return OrderEvent.cancelled(order_id=order_id, customer_id="c", region="eu", currency="EUR")


def reserve(n: int, sku: str = "HOT") -> InventoryEvent:
    return InventoryEvent.reservation(sku=sku, warehouse="w1", quantity=n, order_id=uuid4())


def outcomes(events: list[Event], **state: object) -> list[tuple[str, str | None]]:
    plan = plan_batch(incoming(events), state.get("processed", set()), state.get("orders", {}),  # type: ignore[arg-type]
                      state.get("stock", {}))  # type: ignore[arg-type]  # fmt: skip
    return [(o.event_type, o.reason) for o in plan.outcomes]


def test_replayed_event_ids_are_skipped_within_and_across_batches() -> None:
    event = placed()
    plan = plan_batch(incoming([event, event]), set(), {}, {})
    assert len(plan.outcomes) == 1 and plan.applied == 1
    assert plan_batch(incoming([event]), {event.event_id}, {}, {}).outcomes == []


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([placed(), paid()], [None, None]),
        ([placed(), cancelled(), paid()], [None, None, "paid after cancelled"]),
        ([paid()], ["unknown order"]),
        ([cancelled()], ["unknown order"]),
        ([placed(), placed()], [None, "order already exists (status placed)"]),
        ([placed(), paid(), paid()], [None, None, "paid after paid"]),
        ([placed(), cancelled(), cancelled()], [None, None, "already cancelled"]),
        ([placed(), paid(), cancelled()], [None, None, None]),
    ],
)
def test_order_transitions(events: list[Event], expected: list[str | None]) -> None:
    assert [reason for _, reason in outcomes(events)] == expected


def test_order_state_before_the_batch_counts() -> None:
    before = plan_batch(incoming([placed(), cancelled()]), set(), {}, {}).orders
    assert outcomes([paid()], orders=before) == [("order.paid", "paid after cancelled")]


def test_new_order_written_in_its_final_state_with_items() -> None:
    plan = plan_batch(incoming([placed(), paid()]), set(), {}, {})
    row = plan.orders[ORDER]
    assert row.status == "paid" and row.total_minor == 600 and ORDER in plan.new_order_ids
    assert plan.items == [(ORDER, 1, "A", 2, 300)]


def test_existing_order_status_change_is_not_an_insert() -> None:
    before = {ORDER: OrderRow(ORDER, "c", "eu", "placed", "EUR", 600, placed().occurred_at,
                              placed().occurred_at, uuid4())}  # fmt: skip
    plan = plan_batch(incoming([paid()]), set(), before, {})
    assert plan.orders[ORDER].status == "paid" and not plan.new_order_ids


def test_reservations_beyond_stock_are_rejected_and_stock_never_negative() -> None:
    restock = InventoryEvent.restock(sku="HOT", warehouse="w1", quantity=5)
    events: list[Event] = [restock, *(reserve(1) for _ in range(8))]
    plan = plan_batch(incoming(events), set(), {}, {})
    assert plan.applied == 6 and plan.rejected == 3  # the restock + 5 reservations; 3 rejected
    assert plan.stock[("HOT", "w1")][0] == 0
    assert [r.available_after for r in plan.ledger] == [5, 4, 3, 2, 1, 0, None, None, None]
    assert plan.ledger[-1].reason == "insufficient stock: 0 available, 1 requested"


def test_a_large_reservation_rejected_does_not_block_smaller_ones() -> None:
    reasons = outcomes([reserve(5), reserve(2)], stock={("HOT", "w1"): 3})
    assert reasons == [("inventory.reservation", "insufficient stock: 3 available, 5 requested"),
                       ("inventory.reservation", None)]  # fmt: skip


def test_release_and_corrections() -> None:
    release = InventoryEvent.release(sku="HOT", warehouse="w1", quantity=2, order_id=uuid4())
    down = InventoryEvent.correction(sku="HOT", warehouse="w1", delta=-10)
    plan = plan_batch(incoming([release, down]), set(), {}, {("HOT", "w1"): 1})
    assert [o.reason for o in plan.outcomes] == [
        None,
        "correction by -10 would make stock negative (3 available)",
    ]
    assert plan.stock[("HOT", "w1")][0] == 3


def test_warehouses_are_separate_stock() -> None:
    other = InventoryEvent.reservation(sku="HOT", warehouse="w2", quantity=1, order_id=uuid4())
    assert outcomes([other], stock={("HOT", "w1"): 10}) == [
        ("inventory.reservation", "insufficient stock: 0 available, 1 requested")
    ]

"""``bench sink``'s pure parts: the like-for-like rows, the narrow rows, the workloads, the cost arithmetic,
and the /proc reading (on this test's own processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from uuid import UUID, uuid4

import pytest

from floodwall.consumers.bench import workload_events
from floodwall.consumers.bench_anchor import (
    TABLE_NAMES,
    columns_and_types,
    like_for_like_rows,
    narrow_row,
    rejected_events,
    rows_by_table,
)
from floodwall.consumers.bench_costs import (
    Costs,
    PostgresCpu,
    Sample,
    at_level,
    parse_stat,
    processes_cpu_s,
    quantiles,
    ratio,
    window,
)
from floodwall.consumers.decide import Incoming
from floodwall.errors import FloodwallError
from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem

ORDER = UUID("00000000-0000-4000-8000-000000000001")


def placed(order_id: UUID = ORDER, lines: int = 2) -> OrderEvent:
    items = [OrderItem(sku=f"S{n}", quantity=1, unit_price_minor=100) for n in range(lines)]
    return OrderEvent.placed(order_id=order_id, customer_id="c", region="eu", currency="EUR", items=items)


def paid(order_id: UUID = ORDER) -> OrderEvent:
    return OrderEvent.paid(order_id=order_id, customer_id="c", region="eu", currency="EUR", amount_minor=200)


def restock(n: int, sku: str = "HOT") -> InventoryEvent:
    return InventoryEvent.restock(sku=sku, warehouse="w1", quantity=n)


def reserve(n: int, sku: str = "HOT") -> InventoryEvent:
    return InventoryEvent.reservation(sku=sku, warehouse="w1", quantity=n, order_id=ORDER)


def located(events: list[Event]) -> list[Incoming]:
    """Orders on topic o (partition 0), inventory on topic i (partition by SKU), offsets counting up."""
    next_offset: dict[tuple[str, int], int] = {}
    out = []
    for event in events:
        where = ("i", len(event.sku) % 2) if isinstance(event, InventoryEvent) else ("o", 0)
        offset = next_offset.get(where, 0)
        next_offset[where] = offset + 1
        out.append(Incoming(event, where[0], where[1], offset))
    return out


FLASH: list[Event] = [
    restock(2),
    placed(),
    reserve(1),
    reserve(5),  # more than is left: rejected
    paid(),
    reserve(1, sku="COLD"),  # never restocked: rejected, its stock row still made (0, no event)
    paid(),  # already paid: rejected
]


def test_like_for_like_rows_are_the_rows_the_sink_ends_up_holding() -> None:
    chunks = like_for_like_rows(located(FLASH), "g", transactions=1)
    (chunk,) = chunks
    assert rows_by_table(chunks) == {"sink_offsets": 3, "processed_events": 7, "orders": 1, "order_items": 2,
                                     "inventory_ledger": 4, "stock_levels": 2}  # fmt: skip
    assert rejected_events(chunks) == 3
    (order,) = chunk["orders"]
    assert order[0] == ORDER and order[3] == "paid", "the order is written in its final state"
    assert sorted((r[0], r[2], r[3]) for r in chunk["stock_levels"]) == [
        ("COLD", 0, None),
        ("HOT", 1, FLASH[2].event_id),
    ]
    assert sorted(chunk["sink_offsets"]) == [("g", "i", 0, 1), ("g", "i", 1, 3), ("g", "o", 0, 3)]
    ledger = {r[0]: r for r in chunk["inventory_ledger"]}
    assert ledger[FLASH[3].event_id][6:9] == (
        "rejected",
        "insufficient stock: 1 available, 5 requested",
        None,
    )
    assert ledger[FLASH[2].event_id][4] == -1 and ledger[FLASH[2].event_id][8] == 1
    for name in TABLE_NAMES:
        width = len(columns_and_types(name)[0])
        assert all(len(row) == width for row in chunk[name]), name


def test_rows_are_split_by_event_with_an_order_and_its_items_together() -> None:
    orders = [placed(uuid4(), lines=3) for _ in range(10)]
    chunks = like_for_like_rows(located(list(orders)), "g", transactions=4)
    assert len(chunks) == 4
    assert [len(c["processed_events"]) for c in chunks] == [3, 2, 3, 2]
    for chunk in chunks:
        mine = {row[0] for row in chunk["orders"]}
        assert {row[0] for row in chunk["order_items"]} == mine
        assert {row[0] for row in chunk["processed_events"]} == {
            o.event_id for o in orders if o.order_id in mine
        }
    assert [bool(c["sink_offsets"]) for c in chunks] == [False, False, False, True]
    assert len(like_for_like_rows(located(list(orders[:2])), "g", transactions=50)) == 2


def test_narrow_rows_have_one_shape_for_every_event() -> None:
    order, hold = placed(lines=3), reserve(2)
    assert narrow_row(order) == (order.event_id, "c", "eu", "EUR", 300, order.occurred_at, 3)
    assert narrow_row(hold) == (hold.event_id, "HOT", "w1", "reservation", -2, hold.occurred_at, 0)


def test_the_workloads_are_deterministic_and_mixed_sells_out() -> None:
    orders = workload_events("orders", 200)
    assert len(orders) == 200 and all(isinstance(e, OrderEvent) and len(e.items) == 3 for e in orders)
    mixed = workload_events("mixed", 3000)
    assert len(mixed) == 3000
    assert [e.event_id for e in mixed] == [e.event_id for e in workload_events("mixed", 3000)]
    kinds = {type(e).__name__ + ":" + str(getattr(e, "kind", getattr(e, "event_type", ""))) for e in mixed}
    assert {
        "OrderEvent:placed",
        "OrderEvent:paid",
        "InventoryEvent:reservation",
        "InventoryEvent:restock",
    } <= kinds
    chunks = like_for_like_rows(located(mixed), "g", transactions=1)
    rejected = [r for r in chunks[0]["inventory_ledger"] if r[6] == "rejected"]
    assert rejected and all(str(r[7]).startswith("insufficient stock") for r in rejected), "hot SKUs sell out"


def sample(t: float, landed: float, cpu: float, db: float | None, wal: float) -> Sample:
    return Sample(t, landed, cpu, db, wal)


def test_the_window_interpolates_every_counter_between_the_fill_levels() -> None:
    samples = [
        sample(0, 0, 1.0, 10.0, 1000),
        sample(1, 100, 2.0, 12.0, 2000),
        sample(3, 1000, 5.0, 20.0, 11000),
    ]
    low = at_level(samples, 100)
    assert (low.t, low.client_cpu_s, low.db_cpu_s, low.wal_bytes) == (1, 2.0, 12.0, 2000)
    high = at_level(samples, 550)
    assert (high.t, high.client_cpu_s, high.db_cpu_s, high.wal_bytes) == (2, 3.5, 16.0, 6500)
    costs = window(samples, 1000, low=0.1, high=0.55)
    assert costs == Costs(events_per_s=450, client_cpu_us_per_event=1.5e6 / 450,
                          db_cpu_us_per_event=4e6 / 450, wal_bytes_per_event=4500 / 450)  # fmt: skip
    assert at_level(samples, 5000) == samples[-1] and at_level([samples[1]], 50) == samples[1]


def test_costs_without_a_database_figure_or_without_events() -> None:
    costs = Costs.between(sample(0, 0, 0, None, 0), sample(2, 10, 0.001, None, 50))
    assert costs.db_cpu_us_per_event is None and costs.to_json()["db_cpu_us_per_event"] is None
    assert costs.client_cpu_us_per_event == pytest.approx(100) and costs.events_per_s == 5
    with pytest.raises(FloodwallError, match="too few events"):
        Costs.between(sample(0, 5, 0, None, 0), sample(1, 5, 0, None, 0))
    with pytest.raises(FloodwallError, match="too few events"):
        window([sample(0, 3000, 0, None, 0)], 3000)


def test_ratios_and_quantiles() -> None:
    assert ratio(3, 2) == 1.5 and ratio(1, 3, 4) == 0.3333
    assert ratio(None, 2) is None and ratio(2, None) is None and ratio(1, 0) is None
    assert quantiles([0.3]) == (0.3, 0.3)
    assert quantiles([float(n) for n in range(1, 101)]) == (50.0, 99.0)
    with pytest.raises(ValueError):
        quantiles([])


def test_parse_stat_takes_the_command_name_with_spaces_and_parentheses() -> None:
    line = "4242 (postgres: a (b) c) S 17 4242 4242 0 -1 4194560 1 2 3 4 150 50 7 3 20 0 1 0 9876 1 2"
    stat = parse_stat(line + " 0" * 30)
    assert (stat.comm, stat.ppid, stat.started_ticks) == ("postgres: a (b) c", 17, 9876)
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    assert stat.cpu_s == pytest.approx(200 * tick) and stat.reaped_children_cpu_s == pytest.approx(10 * tick)
    with pytest.raises(ValueError):
        parse_stat("no stat here")


def test_a_server_s_cpu_counts_its_reaped_children() -> None:
    """The arithmetic on /proc of this very process: a child that burns CPU and exits still counts."""
    me = PostgresCpu(os.getpid())
    before = me.seconds()
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert me.seconds() - before >= 0.25
    assert processes_cpu_s([os.getpid()]) > 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert processes_cpu_s([child.pid]) == 0, "a process that is gone counts 0"

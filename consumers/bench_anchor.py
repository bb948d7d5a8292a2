"""``bench sink``'s anchors: binary COPY of the rows the sink ends up holding, and of narrow flat rows.

**Like for like.** For the same events, at the same Kafka positions, :func:`like_for_like_rows` builds
every row the sink's tables hold once the sink has applied them: one ``processed_events`` row per event
(applied or rejected, with the reason), the orders in their final state and their items, one
``inventory_ledger`` row per stock adjustment, one ``stock_levels`` row per SKU and warehouse touched
(0 and no event when all its adjustments were rejected, as the sink leaves it) and one ``sink_offsets``
row per partition. The outcomes come from :func:`consumers.decide.plan_batch` — the sink's own pure
decision — over the events in the order they were produced (events of one order, or of one SKU, share
a key and so a partition: the sink sees them in that order too). The rows are split, by event, into as
many transactions as the sink committed; :func:`copy_like_for_like` COPYs them (binary) into a second
schema made by the same migrations, so the same keys, checks, foreign key and indexes apply. What the
COPY does not do is what the sink adds: reading state, locking, deciding, updating rows it wrote before
(order status, stock levels, offsets) — the difference the ratios measure.

**Narrow rows.** :func:`narrow_copy_rate`: one 7-column row per event into an unindexed table, the anchor
``bench sink`` used first; kept as a second figure.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg

from floodwall.consumers.bench_costs import Conn, Costs, PostgresCpu, Sample, quantiles, wal_bytes
from floodwall.consumers.decide import Incoming, LedgerRow, plan_batch
from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderEventType

Row = tuple[object, ...]
Chunk = dict[str, list[Row]]  # table -> rows, for one transaction

# The sink's tables, their columns without defaults, and binary COPY types; in an order the foreign key
# (order_items -> orders) accepts inside one transaction.
TABLES: dict[str, str] = {
    "sink_offsets": "consumer_group text, topic text, partition int4, next_offset int8",
    "processed_events": "event_id uuid, event_type text, outcome text, reason text, source_topic text, "
    "source_partition int4, source_offset int8, occurred_at timestamptz",
    "orders": "order_id uuid, customer_id text, region text, status text, currency text, total_minor int8, "
    "placed_at timestamptz, updated_at timestamptz, last_event_id uuid",
    "order_items": "order_id uuid, line_no int2, sku text, quantity int4, unit_price_minor int8",
    "inventory_ledger": "event_id uuid, sku text, warehouse text, kind text, quantity_delta int8, "
    "order_id uuid, outcome text, reason text, available_after int8, occurred_at timestamptz",
    "stock_levels": "sku text, warehouse text, available int8, last_event_id uuid",
}
TABLE_NAMES = tuple(TABLES)


def columns_and_types(table: str) -> tuple[list[str], list[str]]:
    """The COPY column list and binary types of one of :data:`TABLES`."""
    pairs = [column.split() for column in TABLES[table].split(", ")]
    return [name for name, _ in pairs], [kind for _, kind in pairs]


def like_for_like_rows(located: Sequence[Incoming], group: str, transactions: int) -> list[Chunk]:
    """The rows the sink's tables hold after applying ``located`` (in produced order) for consumer group
    ``group``, split by event into ``transactions`` chunks (fewer when there are fewer events)."""
    plan = plan_batch(located, set(), {}, {})
    count = len(plan.outcomes)
    chunks: list[Chunk] = [
        {name: [] for name in TABLE_NAMES} for _ in range(max(1, min(transactions, count)))
    ]
    items: dict[UUID, list[Row]] = defaultdict(list)
    for item in plan.items:
        items[item[0]].append(item)
    ledger: dict[UUID, LedgerRow] = {row.event.event_id: row for row in plan.ledger}
    stock_keys: set[tuple[str, str]] = set()
    for index, outcome in enumerate(plan.outcomes):
        chunk, where, event = chunks[index * len(chunks) // count], outcome.incoming, outcome.incoming.event
        chunk["processed_events"].append(
            (event.event_id, outcome.event_type, _verdict(outcome.applied), outcome.reason, where.topic,
             where.partition, where.offset, event.occurred_at)
        )  # fmt: skip
        if isinstance(event, OrderEvent):
            if outcome.applied and event.event_type is OrderEventType.PLACED:  # a new order, final state
                order = plan.orders[event.order_id]
                chunk["orders"].append(
                    tuple(getattr(order, column) for column in columns_and_types("orders")[0])
                )
                chunk["order_items"].extend(items.get(event.order_id, []))
        else:
            chunk["inventory_ledger"].append(_ledger_row(ledger[event.event_id]))
            key = (event.sku, event.warehouse)
            if key not in stock_keys:  # the sink creates a key's row when it first meets it
                stock_keys.add(key)
                level, last_event = plan.stock.get(key, (0, None))
                chunk["stock_levels"].append((key[0], key[1], level, last_event))
    ends: dict[tuple[str, int], int] = {}
    for where in located:
        ends[(where.topic, where.partition)] = max(
            ends.get((where.topic, where.partition), 0), where.offset + 1
        )
    chunks[-1]["sink_offsets"].extend(
        (group, topic, partition, end) for (topic, partition), end in sorted(ends.items())
    )
    return chunks


def _verdict(applied: bool) -> str:
    return "applied" if applied else "rejected"


def _ledger_row(row: LedgerRow) -> Row:
    event = row.event
    return (event.event_id, event.sku, event.warehouse, event.kind.value, event.stock_delta, event.order_id,
            _verdict(row.applied), row.reason, row.available_after, event.occurred_at)  # fmt: skip


def rows_by_table(chunks: Sequence[Chunk]) -> dict[str, int]:
    return {name: sum(len(chunk[name]) for chunk in chunks) for name in TABLE_NAMES}


def rejected_events(chunks: Sequence[Chunk]) -> int:
    """Events the chunks record as rejected (their ``processed_events`` rows)."""
    return sum(row[2] == "rejected" for chunk in chunks for row in chunk["processed_events"])


@dataclass(frozen=True)
class CopyRun:
    """One like-for-like COPY: its costs and each transaction's COPY + COMMIT time."""

    costs: Costs
    transaction_s: list[float]

    def to_json(self) -> dict[str, object]:
        p50, p99 = quantiles(self.transaction_s)
        return {
            **self.costs.to_json(),
            "transactions": len(self.transaction_s),
            "commit_p50_s": round(p50, 4),
            "commit_p99_s": round(p99, 4),
        }


def copy_like_for_like(url: str, chunks: Sequence[Chunk], events: int) -> CopyRun:
    """COPY ``chunks`` (one transaction each) into the empty sink tables at ``url``, and measure it.

    The tables are emptied first. Raises psycopg errors when the database refuses a row.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}".encode())
        database = PostgresCpu.locate(conn, count_this_backend=True)
        before = _sample(conn, database, 0)
        took = []
        for chunk in chunks:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                for name in TABLE_NAMES:
                    _copy_rows(cur, name, chunk[name])
            took.append(time.perf_counter() - started)
        after = _sample(conn, database, events)
    return CopyRun(Costs.between(before, after), took)


def _copy_rows(cur: psycopg.Cursor[tuple[object, ...]], table: str, rows: Sequence[Row]) -> None:
    if not rows:
        return
    columns, types = columns_and_types(table)
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)".encode()) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _sample(conn: Conn, database: PostgresCpu | None, landed: int) -> Sample:
    wal = wal_bytes(conn)
    return Sample(
        time.monotonic(), landed, time.process_time(), None if database is None else database.seconds(), wal
    )


def narrow_row(event: Event) -> Row:
    """One flat 7-column row for an event: id, key, place, kind, amount, time, item count."""
    if isinstance(event, InventoryEvent):
        return (
            event.event_id,
            event.sku,
            event.warehouse,
            event.kind.value,
            event.stock_delta,
            event.occurred_at,
            0,
        )
    return (event.event_id, event.customer_id, event.region, event.currency, event.amount_minor,
            event.occurred_at, len(event.items))  # fmt: skip


def narrow_copy_rate(url: str, events: Sequence[Event]) -> float:
    """Rows/s of one binary COPY of the events as narrow rows, committed (rows built before the clock)."""
    rows = [narrow_row(event) for event in events]
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (event_id uuid, key text, place text, kind text, "
            "amount bigint, occurred_at timestamptz, items integer)"
        )
        conn.execute("TRUNCATE raw_events")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY raw_events FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "text", "text", "text", "int8", "timestamptz", "int4"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - started)

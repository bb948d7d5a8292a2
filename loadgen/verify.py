"""Check PostgreSQL against what the SDK acknowledged, with set-based queries.

The accepted event ids go into a temporary table by binary COPY (hundreds of thousands in a second or
two); every check is then one query joined against it. The sink's ``processed_events`` holds each event
id once (primary key), so duplicates are looked for *by effect* too: item lines per order against the
lines its ``order.placed`` carried, and each SKU's stock row against the sum of its ledger. Rejected
reservations are re-derived from the ledger itself: walking each SKU's adjustments in partition order,
the stock before a rejected reservation must be below the quantity asked for, and the recorded reason
must name exactly those numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from floodwall.loadgen.acks import TYPE_CODE, Ack
from floodwall.loadgen.verdict import SkuFindings, SkuLedger, judge_skus

Conn = psycopg.Connection[tuple[Any, ...]]
PLACED = TYPE_CODE["order.placed"]
SAMPLES = 5

_LOAD = "COPY lg_acked (event_id, order_id, type, lines, acked) FROM STDIN (FORMAT BINARY)"

# Each SKU's adjustments in partition order, with the level before each one (applied ones only count).
_LEDGER = """
WITH l AS (
    SELECT l.sku, l.warehouse, l.kind, l.quantity_delta AS delta, l.outcome, l.reason, l.available_after,
           p.source_partition, p.source_offset
    FROM inventory_ledger l JOIN processed_events p USING (event_id)
    WHERE l.sku LIKE %(prefix)s
), r AS (
    SELECT *, COALESCE(sum(delta) FILTER (WHERE outcome = 'applied') OVER (
        PARTITION BY sku, warehouse ORDER BY source_partition, source_offset
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM l
)
"""
_EXPLAINED = (
    "kind = 'reservation' AND before < -delta "
    "AND reason = format('insufficient stock: %%s available, %%s requested', before, -delta)"
)


@dataclass
class Rejections:
    reservations: int = 0
    unexplained: int = 0
    unexplained_samples: list[str] = field(default_factory=list)
    unexpected: dict[str, int] = field(default_factory=dict)  # reason -> count (non-reservation events)
    inconsistent_applied: int = 0


@dataclass
class DbReport:
    accepted: int
    missing: int
    missing_samples: list[str]
    duplicated_ids: int
    preexisting: int
    by_type: dict[str, dict[str, int]]  # event type -> applied / rejected
    latency_s: dict[str, float | None]  # acknowledged -> committed: p50, p90, p99, p999, max
    applied_per_s: list[int]  # seconds since the profile's t = 0
    applied_before: int  # applied before t = 0 (the initial restocks)
    last_applied_at: float | None  # wall-clock committed_at of the run's last event in PostgreSQL
    extra_order_lines: int
    missing_order_lines: int
    rejections: Rejections
    skus: SkuFindings


def verify_database(database_url: str, acks: Sequence[Ack], namespace: str, start_at: float) -> DbReport:
    """Compare the sink database with the accepted events of ``acks`` (a run of ``namespace`` whose
    profile started at wall-clock ``start_at``). Raises psycopg errors when the database is unreachable."""
    accepted = [a for a in acks if a.accepted]
    with psycopg.connect(database_url, autocommit=False) as conn:
        _load(conn, accepted)
        missing, samples = _missing(conn)
        lines = _order_lines(conn)
        per_second = _applied_per_second(conn, start_at)
        report = DbReport(
            accepted=len(accepted),
            missing=missing,
            missing_samples=samples,
            duplicated_ids=_scalar(
                conn,
                "SELECT count(*) - count(DISTINCT event_id) FROM lg_acked JOIN "
                "processed_events USING (event_id)",
            ),
            preexisting=_scalar(
                conn,
                "SELECT count(*) FROM lg_acked JOIN processed_events p USING (event_id) "
                "WHERE p.committed_at < to_timestamp(%s)",
                start_at - 5,
            ),
            by_type=_by_type(conn),
            latency_s=_latency(conn),
            applied_per_s=per_second[1],
            applied_before=per_second[0],
            last_applied_at=_last_applied(conn),
            extra_order_lines=lines[0],
            missing_order_lines=lines[1],
            rejections=_rejections(conn, namespace),
            skus=judge_skus(_sku_ledgers(conn, namespace)),
        )
        conn.rollback()  # the temporary table goes with the transaction
    return report


def _load(conn: Conn, accepted: Sequence[Ack]) -> None:
    conn.execute(
        "CREATE TEMPORARY TABLE lg_acked (event_id uuid, order_id uuid, type int2, lines int2, acked float8) "
        "ON COMMIT DROP"
    )
    with conn.cursor().copy(_LOAD) as copy:
        copy.set_types(["uuid", "uuid", "int2", "int2", "float8"])
        for a in accepted:
            acked = None if math.isnan(a.acked) else a.acked
            copy.write_row((a.event_id, a.order_id, TYPE_CODE[a.event_type], a.lines, acked))
    conn.execute("CREATE INDEX ON lg_acked (event_id)")
    conn.execute("ANALYZE lg_acked")


def _scalar(conn: Conn, query: str, *params: object) -> int:
    row = conn.execute(query.encode(), params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _missing(conn: Conn) -> tuple[int, list[str]]:
    absent = (
        "FROM lg_acked a WHERE NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.event_id = a.event_id)"
    )
    count = _scalar(conn, "SELECT count(*) " + absent)
    rows = conn.execute(f"SELECT a.event_id {absent} LIMIT {SAMPLES}".encode()).fetchall() if count else []
    return count, [str(r[0]) for r in rows]


def _by_type(conn: Conn) -> dict[str, dict[str, int]]:
    rows = conn.execute(
        "SELECT p.event_type, p.outcome, count(*) FROM lg_acked JOIN processed_events p USING (event_id) "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    found: dict[str, dict[str, int]] = {}
    for event_type, outcome, n in rows:
        found.setdefault(str(event_type), {"applied": 0, "rejected": 0})[str(outcome)] = int(n)
    return found


def _latency(conn: Conn) -> dict[str, float | None]:
    row = conn.execute(
        "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY d), max(d) FROM ("
        "SELECT extract(epoch FROM p.committed_at)::float8 - a.acked AS d FROM lg_acked a "
        "JOIN processed_events p USING (event_id) WHERE a.acked IS NOT NULL) x"
    ).fetchone()
    quantiles = (row[0] if row else None) or [None] * 4
    names = ("p50", "p90", "p99", "p999")
    found: dict[str, float | None] = {
        n: None if q is None else float(q) for n, q in zip(names, quantiles, strict=True)
    }
    found["max"] = None if not row or row[1] is None else float(row[1])
    return found


def _applied_per_second(conn: Conn, start_at: float) -> tuple[int, list[int]]:
    rows = conn.execute(
        "SELECT floor(extract(epoch FROM p.committed_at)::float8 - %s)::int AS s, count(*) FROM lg_acked "
        "JOIN processed_events p USING (event_id) GROUP BY 1 ORDER BY 1",
        (start_at,),
    ).fetchall()
    counts: dict[int, int] = {int(s): int(n) for s, n in rows if int(s) >= 0}
    before = sum(int(n) for s, n in rows if int(s) < 0)
    return before, [counts.get(s, 0) for s in range(max(counts, default=-1) + 1)]


def _last_applied(conn: Conn) -> float | None:
    row = conn.execute(
        "SELECT extract(epoch FROM max(p.committed_at))::float8 FROM lg_acked JOIN processed_events p "
        "USING (event_id)"
    ).fetchone()
    return None if not row or row[0] is None else float(row[0])


def _order_lines(conn: Conn) -> tuple[int, int]:
    """Orders with more / fewer item rows than their applied order.placed carried."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE coalesce(i.n, 0) > a.lines), "
        "count(*) FILTER (WHERE coalesce(i.n, 0) < a.lines) "
        "FROM lg_acked a JOIN processed_events p ON p.event_id = a.event_id AND p.outcome = 'applied' "
        "LEFT JOIN (SELECT order_id, count(*) AS n FROM order_items "
        "           WHERE order_id IN (SELECT order_id FROM lg_acked WHERE type = %s) GROUP BY 1) i "
        "ON i.order_id = a.order_id WHERE a.type = %s",
        (PLACED, PLACED),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _rejections(conn: Conn, namespace: str) -> Rejections:
    params = {"prefix": f"{namespace}-SKU-%"}
    row = conn.execute(
        (_LEDGER + "SELECT count(*) FILTER (WHERE kind = 'reservation' AND outcome = 'rejected'), "
         f"count(*) FILTER (WHERE outcome = 'rejected' AND kind = 'reservation' AND NOT ({_EXPLAINED})), "
         "count(*) FILTER (WHERE outcome = 'applied' AND (before + delta < 0 "
         "                 OR available_after IS DISTINCT FROM before + delta)) FROM r").encode(),
        params,
    ).fetchone()  # fmt: skip
    found = Rejections()
    if row:
        found.reservations, found.unexplained, found.inconsistent_applied = (int(v) for v in row)
    if found.unexplained:
        samples = conn.execute(
            (_LEDGER + "SELECT sku, before, -delta, reason FROM r WHERE outcome = 'rejected' "
             f"AND kind = 'reservation' AND NOT ({_EXPLAINED}) LIMIT {SAMPLES}").encode(),
            params,
        ).fetchall()  # fmt: skip
        found.unexplained_samples = [
            f"{s}: {b} in stock, {q} asked, recorded {r!r}" for s, b, q, r in samples
        ]
    rows = conn.execute(
        "SELECT p.reason, count(*) FROM lg_acked JOIN processed_events p USING (event_id) "
        "WHERE p.outcome = 'rejected' AND p.event_type <> 'inventory.reservation' GROUP BY 1"
    ).fetchall()
    found.unexpected = {str(reason): int(n) for reason, n in rows}
    return found


def _sku_ledgers(conn: Conn, namespace: str) -> list[SkuLedger]:
    rows = conn.execute(
        (_LEDGER + "SELECT r.sku, r.warehouse, "
         "min(before + delta) FILTER (WHERE outcome = 'applied'), "
         "coalesce(sum(-delta) FILTER (WHERE outcome = 'applied' AND kind = 'reservation'), 0), "
         "coalesce(sum(delta) FILTER (WHERE outcome = 'applied' AND kind <> 'reservation'), 0), "
         "coalesce(sum(delta) FILTER (WHERE outcome = 'applied'), 0), s.available, "
         "count(*) FILTER (WHERE outcome = 'rejected' AND kind = 'reservation') "
         "FROM r LEFT JOIN stock_levels s USING (sku, warehouse) "
         "GROUP BY r.sku, r.warehouse, s.available ORDER BY 1, 2").encode(),
        {"prefix": f"{namespace}-SKU-%"},
    ).fetchall()  # fmt: skip
    return [
        SkuLedger(
            str(sku), str(wh), None if low is None else int(low), int(res), int(sup), int(level),
            None if stock is None else int(stock), int(rejected),
        )
        for sku, wh, low, res, sup, level, stock, rejected in rows
    ]  # fmt: skip

"""Wait until the sink has consumed everything a run got acknowledged.

The sink stores each partition's next offset in PostgreSQL with the rows (``sink_offsets``), so the
pipeline has drained a run once, for every partition the run wrote to, the stored offset has passed the
highest offset the broker acknowledged to the run. That is exact: the offsets committed to Kafka trail the
database by up to one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg

from floodwall.loadgen.acks import Ack

Partition = tuple[str, int]


@dataclass(frozen=True)
class Span:
    """The offsets a run's acknowledged events took in one partition: ``first`` to ``end`` (exclusive)."""

    first: int
    end: int


@dataclass(frozen=True)
class DrainResult:
    drained: bool
    seconds: float  # from the call until drained (or until the timeout)
    remaining: int  # events of the run not yet consumed when it returned
    stopped: str | None = None  # why the wait ended early (a watch's reason), None: drained or timed out


Watch = Callable[[int, float], "str | None"]  # (events left, monotonic now) -> a reason to stop waiting


@dataclass
class StallWatch:
    """Ends a drain wait that makes no progress: nothing applied for ``stall_s`` while events remain.

    The bound covers what the pipeline rides out on its own (a Patroni failover stalls it for ~10 s, a
    broker restart for seconds); past it something is wedged, and waiting the whole drain timeout would
    only delay the verdict."""

    stall_s: float
    _least: int | None = None
    _since: float = 0.0

    def __call__(self, left: int, now: float) -> str | None:
        if self._least is None or left < self._least:
            self._least, self._since = left, now
            return None
        if left > 0 and now - self._since >= self.stall_s:
            return f"nothing was applied for {self.stall_s:.0f} s with {left:,} events still to apply"
        return None


def spans_of(acks: Iterable[Ack], topics: tuple[str, str]) -> dict[Partition, Span]:
    """Per partition, the offsets of the acknowledged events (``topics``: orders, inventory)."""
    low: dict[Partition, int] = {}
    high: dict[Partition, int] = {}
    for ack in acks:
        if ack.offset < 0:
            continue  # not acknowledged by the broker (refused, failed, or spooled and never replayed)
        key = (topics[ack.topic], ack.partition)
        low[key] = min(low.get(key, ack.offset), ack.offset)
        high[key] = max(high.get(key, ack.offset), ack.offset)
    return {key: Span(low[key], high[key] + 1) for key in low}


def remaining(spans: dict[Partition, Span], stored: dict[Partition, int]) -> int:
    """Events of the spans still ahead of the stored offsets (pure)."""
    total = 0
    for key, span in spans.items():
        position = min(max(stored.get(key, span.first), span.first), span.end)
        total += span.end - position
    return total


def stored_offsets(
    conn: psycopg.Connection[tuple[object, ...]], group: str, topics: list[str]
) -> dict[Partition, int]:
    rows = conn.execute(
        "SELECT topic, partition, next_offset FROM sink_offsets "
        "WHERE consumer_group = %s AND topic = ANY(%s)",
        (group, topics),
    ).fetchall()
    return {(str(t), int(str(p))): int(str(o)) for t, p, o in rows}


def wait_drained(
    database_url: str,
    group: str,
    spans: dict[Partition, Span],
    timeout_s: float,
    progress: Callable[[int, int], None] = lambda done, total: None,
    poll_s: float = 0.5,
    watch: Watch | None = None,
) -> DrainResult:
    """Poll the stored offsets until nothing of ``spans`` remains, ``timeout_s`` passes, or ``watch``
    gives a reason to stop (then the result's ``stopped`` holds it).

    ``progress(done, total)`` is called after each poll. Database errors (a failover) count as no
    progress and are retried until the timeout.
    """
    started = time.monotonic()
    total = sum(s.end - s.first for s in spans.values())
    topics = sorted({topic for topic, _ in spans})
    left = total
    conn: psycopg.Connection[tuple[object, ...]] | None = None
    try:
        while True:
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(database_url, autocommit=True)
                left = remaining(spans, stored_offsets(conn, group, topics))
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
            progress(total - left, total)
            elapsed = time.monotonic() - started
            if left == 0 or elapsed >= timeout_s:
                return DrainResult(left == 0, elapsed, left)
            reason = watch(left, time.monotonic()) if watch is not None else None
            if reason is not None:
                return DrainResult(False, elapsed, left, stopped=reason)
            time.sleep(poll_s)
    finally:
        if conn is not None:
            conn.close()

"""What writing directly would cost: the sink's own apply, one event per transaction, many writers at once.

Before Floodwall each checkout service wrote its events straight into PostgreSQL, one transaction per
event, as fast as its requests came. :func:`measure_direct_writes` does that against the same database
with the same statements the sink uses (read the state, lock, decide, write), so the figures compare
like with like: ``writers`` threads, each with its own connection (a service instance), share the events
by key — one order's or one SKU's events stay in one writer, in order — and write for ``duration_s``.

The figures are the rate the database sustained, the commit latency a caller waited for, and the rows/s
the primary took; the demo's report sets them beside Floodwall's bounded rate and commit latency.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from floodwall.consumers.decide import Incoming
from floodwall.consumers.sink import PostgresSink
from floodwall.errors import FloodwallError
from floodwall.events.model import Event
from floodwall.redact import error_line

DIRECT_TOPIC = "direct-write"  # the source named in processed_events for these rows
DIRECT_GROUP = "floodwall-direct-write"  # no offsets are stored under it: direct writes have none


@dataclass(frozen=True)
class DirectWrites:
    """What ``writers`` concurrent one-event transactions achieved in ``seconds``."""

    writers: int
    events: int
    rows: int
    seconds: float
    latencies_s: tuple[float, ...]  # one per transaction, sorted

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def latency(self, quantile: float) -> float | None:
        """The commit latency at ``quantile`` (0..1), None when nothing was written."""
        if not self.latencies_s:
            return None
        index = min(len(self.latencies_s) - 1, int(quantile * len(self.latencies_s)))
        return self.latencies_s[index]

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "writers": self.writers,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events_per_s, 1),
            "rows_per_s": round(self.rows_per_s, 1),
            "commit_p50_s": _rounded(self.latency(0.5)),
            "commit_p99_s": _rounded(self.latency(0.99)),
        }


def measure_direct_writes(
    database_url: str, events: Sequence[Event], writers: int, duration_s: float
) -> DirectWrites:
    """Write ``events`` one per transaction from ``writers`` threads until they run out or ``duration_s``
    passes. Raises FloodwallError when the database refuses (the message names no secret)."""
    if writers < 1 or duration_s <= 0:
        raise ValueError("need writers >= 1 and duration_s > 0")
    shards: list[list[Incoming]] = [[] for _ in range(writers)]
    for offset, event in enumerate(events):
        # The partition key, as the SDK keys it: one order's or one SKU's events keep their order.
        shard = zlib.crc32(event.key()) % writers
        shards[shard].append(Incoming(event, DIRECT_TOPIC, shard, offset))
    results: list[_WriterResult] = [_WriterResult() for _ in range(writers)]
    deadline = time.monotonic() + duration_s
    started = time.monotonic()
    threads = [
        threading.Thread(target=_write_one_by_one, args=(database_url, shard, deadline, result), daemon=True)
        for shard, result in zip(shards, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    failed = next((r.error for r in results if r.error), None)
    if failed:
        raise FloodwallError(f"direct writes failed: {error_line(failed, database_url)}")
    return DirectWrites(
        writers=writers,
        events=sum(r.events for r in results),
        rows=sum(r.rows for r in results),
        seconds=elapsed,
        latencies_s=tuple(sorted(t for r in results for t in r.latencies)),
    )


@dataclass
class _WriterResult:
    events: int = 0
    rows: int = 0
    error: psycopg.Error | None = None

    def __post_init__(self) -> None:
        self.latencies: list[float] = []


def _write_one_by_one(database_url: str, events: list[Incoming], deadline: float, out: _WriterResult) -> None:
    sink = PostgresSink(database_url, DIRECT_GROUP)
    try:
        for incoming in events:
            if time.monotonic() >= deadline:
                return
            result = sink.apply([], [incoming])  # no span: nothing to fence, no offset to store
            out.events += 1
            out.rows += result.rows
            out.latencies.append(result.seconds)
    except psycopg.Error as exc:
        out.error = exc
    finally:
        sink.close()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

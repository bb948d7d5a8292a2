"""``floodwall bench sink``: the fleet's sustained apply rate against raw binary COPY, in one run.

What is measured, in order:

1. A fresh schema ``floodwall_bench_<id>`` (the sink's migrations applied to it) and fresh topics, so the
   bench neither reads nor writes anyone's data; both are removed at the end.
2. N order events (3 items each) are pre-loaded into the orders topic before the clock starts.
3. ``--consumers`` real ``floodwall consume`` processes (one consumer group, exactly-once on, through the
   database URL given — the local stack's HAProxy write port by default) apply them. The sustained rate
   is taken between 10 % and 90 % of the events landed (``processed_events`` counted every 0.25 s),
   so group joining and the tail do not count. Batch commit latency p50/p99 come from the consumers'
   ``floodwall_consumer_commit_seconds`` histograms, merged and interpolated as PromQL does.
4. Then, on the same cluster, through the same URL: one binary COPY of the same events as flat rows
   (one row per event: id, customer, region, currency, total, time, item count) — the anchor that
   docs/consumers.md quotes — best of three (raw COPY is the ceiling; its best run is the fair ceiling).

Per event the sink writes 5 rows (the event record, the order, 3 items) besides reading state for
exactly-once, order transitions and stock; the raw COPY writes 1 and checks nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from confluent_kafka import Producer
from psycopg import sql
from psycopg.conninfo import make_conninfo

from floodwall.cliargs import add_settings_flags, doc_body, settings_from_args
from floodwall.consumers.config import ConsumerSettings
from floodwall.db.config import resolve_owner_database_url
from floodwall.db.migrate import migrate
from floodwall.errors import FloodwallError
from floodwall.events.codec import EventSerializer
from floodwall.events.model import OrderEvent
from floodwall.histograms import buckets_from_exposition, merge, quantile
from floodwall.httpclient import http_get
from floodwall.producers.bench import make_orders
from floodwall.redact import error_line
from floodwall.topics import ensure_topics

SINK_ROWS_PER_EVENT = 5  # a bench order: its processed_events row, the order row and 3 item rows


@dataclass(frozen=True)
class FleetFigures:
    events_per_s: float  # sustained, between 10 % and 90 % landed
    commit_p50_s: float | None
    commit_p99_s: float | None
    seconds_total: float


@dataclass(frozen=True)
class BenchRun:
    """What one bench run works on, all of its own: nobody else's data is read or written."""

    run_id: str
    schema_url: str  # the throwaway schema, with the sink's tables
    topics: list[str]  # orders, inventory, dead-letter topic
    events: list[OrderEvent]  # pre-loaded into the orders topic


def add_bench_parser(
    bench: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, doc: str | None
) -> argparse.ArgumentParser:
    """``floodwall bench <name>``, described by its module docstring ``doc`` after the summary line, kept
    as written (the docstrings number their steps)."""
    return bench.add_parser(
        name, help=help, description=doc_body(doc), formatter_class=argparse.RawDescriptionHelpFormatter
    )


def register(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sink = add_bench_parser(
        bench,
        "sink",
        "the consumer fleet's sustained apply rate vs raw binary COPY (same rows, same run)",
        __doc__,
    )
    sink.add_argument("--events", type=int, default=200_000, help="order events to pre-load (default 200000)")
    sink.add_argument("--consumers", type=int, default=2, help="consumer processes (default 2)")
    sink.add_argument("--partitions", type=int, default=6, help="partitions of the bench topics (default 6)")
    sink.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    add_settings_flags(
        sink, ConsumerSettings, only={"bootstrap_servers", "database_url", "state_dir", "batch_max_events"}
    )
    sink.set_defaults(handler=_bench_sink)


def _bench_sink(args: argparse.Namespace) -> int:
    if args.events < 100 or not 1 <= args.consumers <= 64 or args.partitions < 1:
        raise FloodwallError("--events must be >= 100, --consumers 1..64, --partitions >= 1")
    settings = settings_from_args(ConsumerSettings, args)
    # The bench creates a throwaway schema: DDL, so the schema owner's URL.
    url = resolve_owner_database_url(settings.database_url, settings.state_dir)
    with bench_run("sink", settings.bootstrap_servers, url, args.events, args.partitions) as run:
        fleet = _apply_with_fleet(settings, run.schema_url, run.topics, run.run_id, args)
        raw = max(_raw_copy_rate(run.schema_url, run.events) for _ in range(3))
    result = {
        "events": args.events,
        "consumers": args.consumers,
        "partitions": args.partitions,
        "batch_max_events": settings.batch_max_events,
        "apply_events_per_s": round(fleet.events_per_s),
        "commit_p50_s": fleet.commit_p50_s,
        "commit_p99_s": fleet.commit_p99_s,
        "apply_seconds_total": fleet.seconds_total,
        "raw_copy_rows_per_s": round(raw),
        "ratio": round(fleet.events_per_s / raw, 4),
        "sink_rows_per_event": SINK_ROWS_PER_EVENT,
        "apply_rows_per_s": round(fleet.events_per_s * SINK_ROWS_PER_EVENT),
    }
    print(json.dumps(result))
    return 0


@contextmanager
def bench_run(bench: str, bootstrap: str, url: str, events: int, partitions: int) -> Iterator[BenchRun]:
    """A fresh run: ``events`` order events pre-loaded into new topics ``bench-<bench>-<id>-…`` with
    ``partitions`` each, and a schema ``floodwall_bench_<id>`` with the sink's tables, dropped at the end.

    ``url`` must be allowed to create schemas (the schema owner's). Raises FloodwallError when the database
    refuses or cannot be reached, or the broker does not acknowledge the events."""
    run_id = secrets.token_hex(4)
    orders = make_orders(events)
    with bench_schema(url, f"floodwall_bench_{run_id}") as schema_url:
        topics = [f"bench-{bench}-{run_id}-{name}" for name in ("orders", "inventory", "dlq")]
        ensure_topics(bootstrap, topics, partitions)
        preload(bootstrap, topics[0], orders)
        yield BenchRun(run_id, schema_url, topics, orders)


@contextmanager
def bench_schema(url: str, schema: str) -> Iterator[str]:
    """A throwaway schema with the sink's tables; yields a URL whose search_path points at it."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise FloodwallError(
            f"cannot create the bench schema: {str(exc).strip().splitlines()[0]}; the bench needs a role "
            f"that may create schemas, such as the schema owner (the local stack's database_owner_url)"
        ) from None
    except psycopg.OperationalError as exc:
        raise FloodwallError(f"cannot reach the database: {error_line(exc, url)}") from None
    schema_url = make_conninfo(url, options=f"-csearch_path={schema}")
    try:
        migrate(schema_url)
        yield schema_url
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def preload(bootstrap: str, topic: str, events: list[OrderEvent]) -> None:
    serialize = EventSerializer()
    client = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                       "compression.type": "lz4"})  # fmt: skip
    for event in events:
        while True:
            try:
                client.produce(topic, serialize(event), event.key())
                break
            except BufferError:
                client.poll(0.05)
        client.poll(0)
    if client.flush(120):
        raise FloodwallError("bench: the broker did not acknowledge the pre-loaded events")


def _apply_with_fleet(
    settings: ConsumerSettings, url: str, topics: list[str], run_id: str, args: argparse.Namespace
) -> FleetFigures:
    with tempfile.TemporaryDirectory(prefix="floodwall-bench-sink-") as logs:
        log_files = [Path(logs) / f"consumer-{n}.log" for n in range(args.consumers)]
        command = consume_command(settings, url, topics, f"bench-sink-{run_id}")
        procs = []
        for log in log_files:
            with log.open("w") as stderr:  # the child keeps its own copy of the descriptor
                procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr))
        try:
            landed = _watch(url, args.events, procs, log_files, args.timeout)
            pages = [http_get(_metrics_url(log))[1].decode() for log in log_files]
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    commits = merge(buckets_from_exposition(page, "floodwall_consumer_commit_seconds") for page in pages)
    p50, p99 = quantile(0.5, commits), quantile(0.99, commits)
    return FleetFigures(
        events_per_s=_sustained_rate(landed, args.events),
        commit_p50_s=round(p50, 4) if p50 is not None else None,
        commit_p99_s=round(p99, 4) if p99 is not None else None,
        seconds_total=round(landed[-1][0] - landed[0][0], 2),
    )


def consume_command(
    settings: ConsumerSettings, url: str, topics: list[str], group: str, *extra: str
) -> list[str]:
    """``floodwall consume`` for a bench fleet member (``extra``: more flags, later ones win)."""
    flags = {
        "--bootstrap-servers": settings.bootstrap_servers,
        "--group-id": group,
        "--orders-topic": topics[0],
        "--inventory-topic": topics[1],
        "--dlq-topic": topics[2],
        "--database-url": url,
        "--metrics-port": "0",
        "--batch-max-events": str(settings.batch_max_events),
        "--state-dir": str(settings.state_dir),
    }
    return [
        sys.executable,
        "-m",
        "floodwall",
        "consume",
        *[part for kv in flags.items() for part in kv],
        *extra,
    ]


def _metrics_url(log: Path) -> str:
    """The consumer logs where its metrics listen (it was started on port 0: any free port)."""
    found = re.search(r"metrics and probes on (http://\S+/metrics)", log.read_text())
    if found is None:
        raise FloodwallError(
            f"bench: a consumer never reported its metrics port; its log:\n{log.read_text()}"
        )
    return found.group(1)


def _watch(
    url: str, expected: int, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float
) -> list[tuple[float, int]]:
    """(time, events landed) samples until all have landed. Progress goes to stderr."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM processed_events").fetchone()
            samples.append((time.monotonic(), int(row[0]) if row else 0))
            print(
                f"\rbench sink: {samples[-1][1]:>9,} of {expected:,} events applied", end="", file=sys.stderr
            )
            if samples[-1][1] >= expected:
                print(file=sys.stderr)
                return samples
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    tail = "\n".join(log.read_text().splitlines()[-15:])
                    raise FloodwallError(
                        f"bench: a consumer exited early (status {proc.returncode}):\n{tail}"
                    )
            if time.monotonic() > deadline:
                raise FloodwallError(
                    f"bench: only {samples[-1][1]} of {expected} events applied in {timeout} s"
                )
            time.sleep(0.25)


def _sustained_rate(samples: list[tuple[float, int]], expected: int) -> float:
    """Events/s between the moments 10 % and 90 % of the events had landed (interpolated)."""
    return (0.8 * expected) / (_crossing(samples, 0.9 * expected) - _crossing(samples, 0.1 * expected))


def _crossing(samples: list[tuple[float, int]], level: float) -> float:
    for (t0, n0), (t1, n1) in itertools.pairwise(samples):
        if n0 < level <= n1:
            return t0 + (t1 - t0) * (level - n0) / (n1 - n0)
    return samples[0][0] if samples[0][1] >= level else samples[-1][0]


def _raw_copy_rate(url: str, events: list[OrderEvent]) -> float:
    """Rows/s of one binary COPY of the events as flat rows, committed (rows built before the clock)."""
    rows = [(e.event_id, e.customer_id, e.region, e.currency, e.amount_minor, e.occurred_at, len(e.items))
            for e in events]  # fmt: skip
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_orders (order_id uuid, customer_id text, region text, "
            "currency text, total_minor bigint, placed_at timestamptz, items integer)"
        )
        conn.execute("TRUNCATE raw_orders")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY raw_orders FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "text", "text", "text", "int8", "timestamptz", "int4"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - started)

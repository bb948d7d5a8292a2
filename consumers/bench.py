"""``floodwall bench sink``: the fleet's sustained apply rate and costs against binary COPY, in one run.

What is measured, in order:

1. Two fresh schemas ``floodwall_bench_<id>`` and ``floodwall_bench_<id>_copy`` (the sink's migrations
   applied to both) and fresh topics, so the bench neither reads nor writes anyone's data; all are removed
   at the end.
2. N events are pre-loaded before the clock starts: ``--workload orders``, order placements with 3 items
   each; ``--workload mixed``, the load generator's flash-sale mix (restocks, orders with items, a
   reservation per line on Zipf-hot SKUs that sell out, payments, cancellations and their releases).
3. ``--consumers`` real ``floodwall consume`` processes (one consumer group, exactly-once on, through the
   database URL given — the local stack's HAProxy write port by default) apply them. The sustained rate
   and the costs per event are taken between 10 % and 90 % of the events landed (the offsets stored with
   the rows, sampled every 0.25 s), so group joining and the tail do not count: the consumers' CPU, the
   primary PostgreSQL's CPU and its WAL (consumers/bench_costs.py). Batch commit latency p50/p99 come
   from the consumers' ``floodwall_consumer_commit_seconds`` histograms, merged and interpolated as
   PromQL does.
4. Then, on the same cluster, through the same URL, best of three each:
   - the like-for-like anchor: a binary COPY of exactly the rows the sink's tables now hold for these
     events, into the second schema, in as many transactions as the sink committed, with the same costs
     measured (consumers/bench_anchor.py); ``apply_vs_like_for_like_copy`` is the headline ratio;
   - one binary COPY of the events as narrow flat rows (one row per event, no index): the first anchor,
     kept as a second figure.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from floodwall.cliargs import add_settings_flags, doc_body, settings_from_args
from floodwall.consumers.bench_anchor import (
    TABLE_NAMES,
    CopyRun,
    copy_like_for_like,
    like_for_like_rows,
    narrow_copy_rate,
    rejected_events,
    rows_by_table,
)
from floodwall.consumers.bench_costs import (
    Costs,
    PostgresCpu,
    Sample,
    processes_cpu_s,
    ratio,
    wal_bytes,
    window,
)
from floodwall.consumers.bench_world import bench_run, bench_schema
from floodwall.consumers.config import ConsumerSettings
from floodwall.db.config import resolve_owner_database_url
from floodwall.errors import FloodwallError
from floodwall.events.model import Event
from floodwall.histograms import buckets_from_exposition, merge, quantile
from floodwall.httpclient import http_get
from floodwall.loadgen.generator import Generator, Workload
from floodwall.producers.bench import make_orders
from floodwall.progress import ProgressLine, closing_line

WORKLOADS = ("orders", "mixed")
# The mixed workload's own clock: the events are pre-loaded, so this only sets how many events lie between
# an order and its payment (1-5 s later) or cancellation (2-8 s later).
MIXED_EVENTS_PER_S = 2000


@dataclass(frozen=True)
class FleetFigures:
    costs: Costs  # sustained, between 10 % and 90 % landed
    commits: int  # batches committed
    commit_p50_s: float | None
    commit_p99_s: float | None
    seconds_total: float
    db_measured: bool  # False: the primary's processes are not visible from this machine


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
        "the consumer fleet's sustained apply rate vs a like-for-like binary COPY (same rows, same run)",
        __doc__,
    )
    sink.add_argument("--events", type=int, default=200_000, help="events to pre-load (default 200000)")
    sink.add_argument("--workload", choices=WORKLOADS, default="orders",
                      help="orders (3 items each) or mixed (the flash-sale mix); default orders")  # fmt: skip
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
    # The bench creates throwaway schemas: DDL, so the schema owner's URL.
    url = resolve_owner_database_url(settings.database_url, settings.state_dir)
    events = workload_events(args.workload, args.events)
    with (
        bench_run("sink", settings.bootstrap_servers, url, events, args.partitions) as run,
        bench_schema(url, f"floodwall_bench_{run.run_id}_copy") as copy_url,
    ):
        group = f"bench-sink-{run.run_id}"
        fleet = _apply_with_fleet(settings, run.schema_url, run.topics, group, args)
        sink_rows, sink_rejected = count_rows(run.schema_url)
        chunks = like_for_like_rows(run.located, group, fleet.commits)  # built before any clock starts
        copy = max((copy_like_for_like(copy_url, chunks, len(events)) for _ in range(3)),
                   key=lambda copied: copied.costs.events_per_s)  # fmt: skip
        narrow = max(narrow_copy_rate(run.schema_url, events) for _ in range(3))
    result = _result(args, settings, fleet, copy, narrow)
    result["sink"].update(_rows_json(sink_rows, sink_rejected, args.events, fleet.costs.events_per_s))
    result["like_for_like_copy"].update(
        _rows_json(rows_by_table(chunks), rejected_events(chunks), args.events, copy.costs.events_per_s)
    )
    print(json.dumps(result))
    return 0


def _result(
    args: argparse.Namespace, settings: ConsumerSettings, fleet: FleetFigures, copy: CopyRun, narrow: float
) -> dict[str, Any]:
    sink, anchor = fleet.costs, copy.costs
    return {
        "workload": args.workload,
        "events": args.events,
        "consumers": args.consumers,
        "partitions": args.partitions,
        "batch_max_events": settings.batch_max_events,
        "apply_events_per_s": round(sink.events_per_s),
        "apply_vs_like_for_like_copy": ratio(sink.events_per_s, anchor.events_per_s, 4),
        "apply_vs_narrow_row_copy": ratio(sink.events_per_s, narrow, 4),
        "sink_vs_like_for_like_copy": {
            "db_cpu": ratio(sink.db_cpu_us_per_event, anchor.db_cpu_us_per_event),
            "wal": ratio(sink.wal_bytes_per_event, anchor.wal_bytes_per_event),
            "client_cpu": ratio(sink.client_cpu_us_per_event, anchor.client_cpu_us_per_event),
        },
        "sink": {
            **sink.to_json(),
            "transactions": fleet.commits,
            "commit_p50_s": fleet.commit_p50_s,
            "commit_p99_s": fleet.commit_p99_s,
            "seconds_total": fleet.seconds_total,
        },
        "like_for_like_copy": copy.to_json(),
        "narrow_row_copy": {"rows_per_s": round(narrow), "rows_per_event": 1},
        "db_cpu_measured": (
            "user+system CPU of the primary's postmaster and all its children (backends, WAL writer and "
            "senders, checkpointer, autovacuum), from /proc; the bench's own watcher backend left out"
            if fleet.db_measured
            else "not measured: the primary's processes are not visible from this machine"
        ),
    }


def _rows_json(by_table: dict[str, int], rejected: int, events: int, events_per_s: float) -> dict[str, Any]:
    per_event = sum(by_table.values()) / events
    return {
        "rows_per_event": round(per_event, 3),
        "rows_per_s": round(events_per_s * per_event),
        "rows_by_table": by_table,
        "rejected_events": rejected,
    }


def workload_events(workload: str, count: int) -> list[Event]:
    """``count`` events of the workload, deterministic (the same seed every run)."""
    if workload == "orders":
        return list(make_orders(count))
    # Fewer SKUs for a small run, so that hot SKUs still sell out within it.
    generator = Generator(Workload(seed=7, namespace="bench", skus=max(10, min(500, count // 20))))
    events = [event for _, event in generator.preload()]
    times = (i / MIXED_EVENTS_PER_S for i in range(count - len(events)))
    return events + [event for _, event in generator.events(times)]


def _apply_with_fleet(
    settings: ConsumerSettings, url: str, topics: list[str], group: str, args: argparse.Namespace
) -> FleetFigures:
    with tempfile.TemporaryDirectory(prefix="floodwall-bench-sink-") as logs:
        log_files = [Path(logs) / f"consumer-{n}.log" for n in range(args.consumers)]
        command = consume_command(settings, url, topics, group)
        procs = []
        for log in log_files:
            with log.open("w") as stderr:  # the child keeps its own copy of the descriptor
                procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr))
        try:
            samples, db_measured = _watch(url, args.events, procs, log_files, args.timeout)
            pages = [http_get(_metrics_url(log))[1].decode() for log in log_files]
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    inside = sum(0.1 * args.events < sample.landed < 0.9 * args.events for sample in samples)
    if inside < 3:  # the window then lies within one or two sampling steps: the figures are coarse
        print(f"bench sink: only {inside} sample(s) inside the measured window; run with more --events "
              f"for figures to quote", file=sys.stderr)  # fmt: skip
    commits = merge(buckets_from_exposition(page, "floodwall_consumer_commit_seconds") for page in pages)
    p50, p99 = quantile(0.5, commits), quantile(0.99, commits)
    return FleetFigures(
        costs=window(samples, args.events),
        commits=int(commits.get(math.inf, 0)),
        commit_p50_s=round(p50, 4) if p50 is not None else None,
        commit_p99_s=round(p99, 4) if p99 is not None else None,
        seconds_total=round(samples[-1].t - samples[0].t, 2),
        db_measured=db_measured,
    )


def count_rows(url: str) -> tuple[dict[str, int], int]:
    """Rows in each of the sink's tables, and the events recorded as rejected."""
    counts = sql.SQL(", ").join(
        sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(name)) for name in TABLE_NAMES
    )
    rejected = sql.SQL("(SELECT count(*) FROM processed_events WHERE outcome = 'rejected')")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT {}, {}").format(counts, rejected)).fetchone()
    found = [int(n) for n in row or ()]
    return dict(zip(TABLE_NAMES, found[:-1], strict=True)), found[-1]


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
) -> tuple[list[Sample], bool]:
    """Samples of the costs so far until all events have landed, and whether the database's CPU is in
    them. Progress goes to stderr.

    Landed = the sum of the offsets stored with the rows (fresh topics start at 0): a few rows to read,
    where counting ``processed_events`` would scan a growing table and charge the scan to the sink.
    """
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    progress = ProgressLine()
    with psycopg.connect(url, autocommit=True) as conn, closing_line(progress):
        database = PostgresCpu.locate(conn, count_this_backend=False)
        pids = [proc.pid for proc in procs]
        while True:
            row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM sink_offsets").fetchone()
            landed = int(row[0]) if row else 0
            db_cpu_s = None if database is None else database.seconds()
            samples.append(Sample(time.monotonic(), landed, processes_cpu_s(pids), db_cpu_s, wal_bytes(conn)))
            progress.update(f"bench sink: {landed:>9,} of {expected:,} events applied")
            if landed >= expected:
                return samples, database is not None
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    tail = "\n".join(log.read_text().splitlines()[-15:])
                    raise FloodwallError(
                        f"bench: a consumer exited early (status {proc.returncode}):\n{tail}"
                    )
            if time.monotonic() > deadline:
                raise FloodwallError(f"bench: only {landed} of {expected} events applied in {timeout} s")
            time.sleep(0.25)

"""``floodwall bench rebalance``: how long membership changes stall ingestion, per group protocol.

For each protocol (KIP-848 ``consumer`` and ``classic``, alternating, ``--trials`` times each) one run:

1. a throwaway schema and topics (as ``bench sink``), N order events pre-loaded before the clock;
2. real ``floodwall consume`` processes under a fleet-wide write budget, so the apply rate is the same
   whatever the replica count and the phases below are evenly spaced;
3. the membership changes, each when a share of the events has landed: **scale up** 1 → 3, **scale down**
   3 → 1 with both members stopped (SIGTERM) at the same instant, **kill -9** of one of 2 members (no
   goodbye: its partitions move when the broker's session timeout expires).

Per change two figures, from ``sink_offsets`` and ``processed_events`` sampled every 0.1 s:

- ``fleet_stall_s``: the longest time after the change during which no partition advanced at all (a
  stop-the-world rebalance shows here);
- ``lost_s``: the ingestion time the change cost over the 15 s after it: the window less the time its
  applied events would have taken at the rate of the 15 s before (partitions handed over late count in
  proportion to their share). The write budget holds the rate flat, so the loss is not caught up.

For the scale-up also ``first_assigned_s``: from starting a new member's process to its first partitions
(its log's ``assigned`` line), the median of the two new members — process start, connection, joining
and the rebalance that hands it work.

Printed: one JSON object with every run's figures and, per protocol and change, the median and the
worst over the trials.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from floodwall.cliargs import add_settings_flags, settings_from_args
from floodwall.consumers.bench import add_bench_parser, consume_command
from floodwall.consumers.bench_world import bench_run
from floodwall.consumers.config import ConsumerSettings
from floodwall.db.config import resolve_owner_database_url
from floodwall.errors import FloodwallError
from floodwall.producers.bench import make_orders
from floodwall.progress import ProgressLine, closing_line

PROTOCOLS = ("consumer", "classic")
ROWS_PER_EVENT = 5  # a bench order: processed_events, the order and 3 items
CHANGES = ("scale_up_1_to_3", "scale_down_3_to_1", "kill_9_one_of_2")
LOST_WINDOW_S = 15.0
Offsets = dict[tuple[str, int], int]


def register(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_bench_parser(
        bench,
        "rebalance",
        "ingestion stalls of scale up/down and kill -9, KIP-848 vs classic protocol",
        __doc__,
    )
    parser.add_argument("--events", type=int, default=400_000, help="order events per run (default 400000)")
    parser.add_argument("--trials", type=int, default=3, help="runs per protocol (default 3)")
    parser.add_argument("--partitions", type=int, default=12, help="partitions of the orders topic (12)")
    parser.add_argument(
        "--budget", type=float, default=30_000, help="fleet write budget, rows/s (default 30000)"
    )
    parser.add_argument(
        "--protocol", choices=[*PROTOCOLS, "both"], default="both", help="protocol(s) to run (both)"
    )
    add_settings_flags(parser, ConsumerSettings, only={"bootstrap_servers", "database_url", "state_dir"})
    parser.set_defaults(handler=_bench_rebalance)


@dataclass
class _Run:
    """One run's fleet, the stored offsets seen over time, and the changes made."""

    conn: psycopg.Connection[tuple[object, ...]]
    group: str
    expected: int
    members: list[subprocess.Popen[bytes]] = field(default_factory=list)
    samples: list[tuple[float, Offsets]] = field(default_factory=list)
    landed: list[tuple[float, int]] = field(default_factory=list)  # (time, events applied so far)
    changes: list[tuple[str, float]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # pid -> the member's log
    spawned: dict[int, float] = field(default_factory=dict)  # pid -> wall-clock start (the logs' clock)
    joining: list[int] = field(default_factory=list)  # the pids the scale-up started

    def sample(self) -> int:
        rows = self.conn.execute(
            "SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = %s", (self.group,)
        ).fetchall()
        offsets = {(str(t), int(str(p))): int(str(o)) for t, p, o in rows}
        self.samples.append((time.monotonic(), offsets))
        row = self.conn.execute("SELECT count(*) FROM processed_events").fetchone()
        landed = int(str(row[0])) if row else 0
        self.landed.append((time.monotonic(), landed))
        return landed

    def wait_share(self, share: float, timeout_s: float) -> None:
        with closing_line(ProgressLine()) as progress:
            self._wait_share(share, timeout_s, progress)

    def _wait_share(self, share: float, timeout_s: float, progress: ProgressLine) -> None:
        deadline = time.monotonic() + timeout_s
        while (landed := self.sample()) < self.expected * share:
            for member in self.members:
                if member.poll() is not None:
                    tail = "\n".join(self.logs[member.pid].read_text().splitlines()[-15:])
                    raise FloodwallError(
                        f"bench: a consumer exited early (status {member.returncode}):\n{tail}"
                    )
            if time.monotonic() > deadline:
                raise FloodwallError(f"bench: only {landed} of {self.expected} events applied in time")
            progress.update(f"bench rebalance: {landed:>9,} of {self.expected:,} applied")
            time.sleep(0.1)


def _bench_rebalance(args: argparse.Namespace) -> int:
    if args.events < 10_000 or args.trials < 1 or args.partitions < 3 or args.budget <= 0:
        raise FloodwallError("--events must be >= 10000, --trials >= 1, --partitions >= 3, --budget > 0")
    settings = settings_from_args(ConsumerSettings, args)
    # The bench creates a throwaway schema: DDL, so the schema owner's URL.
    url = resolve_owner_database_url(settings.database_url, settings.state_dir)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    runs: list[dict[str, object]] = []
    for trial in range(args.trials):
        for protocol in protocols:
            figures = _one_run(settings, url, protocol, args)
            print(f"bench rebalance: {protocol} trial {trial + 1}: {json.dumps(figures)}", file=sys.stderr)
            runs.append({"protocol": protocol, "trial": trial + 1, **figures})
    print(json.dumps({"events": args.events, "partitions": args.partitions, "budget_rows_per_s": args.budget,
                      "summary": _summary(runs, protocols), "runs": runs}))  # fmt: skip
    return 0


def _one_run(
    settings: ConsumerSettings, url: str, protocol: str, args: argparse.Namespace
) -> dict[str, object]:
    with bench_run("rebalance", settings.bootstrap_servers, url, make_orders(args.events),
                   args.partitions) as bench:  # fmt: skip
        group = f"bench-rebalance-{bench.run_id}"
        flags = ("--group-protocol", protocol, "--write-budget-rows-per-s", str(args.budget))
        command = consume_command(settings, bench.schema_url, bench.topics, group, *flags)
        with (
            tempfile.TemporaryDirectory(prefix="floodwall-bench-rebalance-") as logs,
            psycopg.connect(bench.schema_url, autocommit=True) as conn,
        ):
            run = _Run(conn, group, args.events)
            try:
                _drive(
                    run, lambda n: _start(run, command, Path(logs), n), args.events / args.budget * 5 + 300
                )
            finally:
                _stop_all(run.members)
            return _stalls(run)


def _drive(run: _Run, start: Callable[[int], None], timeout_s: float) -> None:
    """Start 1; scale to 3; two leave at once; back to 2; kill -9 one; let the last one finish."""
    start(1)
    run.wait_share(0.2, timeout_s)
    run.changes.append(("scale_up_1_to_3", time.monotonic()))
    start(2)
    run.joining = [m.pid for m in run.members[-2:]]
    run.wait_share(0.45, timeout_s)
    run.changes.append(("scale_down_3_to_1", time.monotonic()))
    _signal(run.members, 2, signal.SIGTERM)
    run.wait_share(0.6, timeout_s)
    start(1)
    run.wait_share(0.8, timeout_s)
    run.changes.append(("kill_9_one_of_2", time.monotonic()))
    _signal(run.members, 1, signal.SIGKILL)
    run.wait_share(1.0, timeout_s)
    print(file=sys.stderr)


def _start(run: _Run, command: list[str], logs: Path, count: int) -> None:
    for _ in range(count):
        log = logs / f"consumer-{len(run.members)}-{time.monotonic_ns()}.log"
        with log.open("w") as out:
            run.members.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=out))
        run.logs[run.members[-1].pid] = log
        run.spawned[run.members[-1].pid] = time.time()


def _signal(members: list[subprocess.Popen[bytes]], count: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the ``count`` newest members at the same instant and wait for them."""
    leaving = [members.pop() for _ in range(count)]
    for member in leaving:
        member.send_signal(sig)
    for member in leaving:
        member.wait(60)


def _stop_all(members: list[subprocess.Popen[bytes]]) -> None:
    for member in members:
        member.terminate()
    for member in members:
        try:
            member.wait(30)
        except subprocess.TimeoutExpired:
            member.kill()


def _stalls(run: _Run) -> dict[str, object]:
    figures: dict[str, object] = {}
    ends = [t for _, t in run.changes[1:]] + [run.samples[-1][0]]
    for (name, at), until in zip(run.changes, ends, strict=True):
        figures[name] = {
            "fleet_stall_s": round(_fleet_stall(run.samples, at, until), 2),
            "lost_s": round(_lost_seconds(run.landed, at, until), 2),
        }
    assigned = [_first_assigned(run.logs[pid], run.spawned[pid]) for pid in run.joining]
    found = [a for a in assigned if a is not None]
    if found:
        figures["scale_up_1_to_3"]["first_assigned_s"] = round(statistics.median(found), 2)  # type: ignore[index]
    return figures


def _first_assigned(log: Path, spawned: float) -> float | None:
    """Seconds from ``spawned`` (wall clock) to the member's first ``assigned`` log line, if any."""
    for line in log.read_text(errors="replace").splitlines():
        if " assigned " in line:
            try:
                logged = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                return None
            return logged - spawned
    return None


def _advances(samples: list[tuple[float, Offsets]]) -> list[tuple[float, set[tuple[str, int]]]]:
    """(time, partitions that advanced since the previous sample)."""
    return [
        (t, {k for k, v in after.items() if v > before.get(k, -1)})
        for (_, before), (t, after) in itertools.pairwise(samples)
    ]


def _fleet_stall(samples: list[tuple[float, Offsets]], at: float, until: float) -> float:
    """The longest gap in [at, until] with no partition advancing."""
    times = [at] + [t for t, moved in _advances(samples) if moved and at <= t <= until]
    return max((b - a for a, b in itertools.pairwise(times)), default=until - at)


def _applied_by(landed: list[tuple[float, int]], moment: float) -> int:
    return max((n for t, n in landed if t <= moment), default=0)


def _lost_seconds(landed: list[tuple[float, int]], at: float, until: float) -> float:
    """Ingestion time the change cost: over the ``LOST_WINDOW_S`` after it (or up to the next change), the
    window's length less the time the events applied in it would have taken at the rate of the
    ``LOST_WINDOW_S`` before it. Partial stalls count in proportion (a third of the partitions stopped
    for 3 s costs 1 s), which is how an incremental rebalance shows."""
    end = min(at + LOST_WINDOW_S, until)
    before = _applied_by(landed, at) - _applied_by(landed, at - LOST_WINDOW_S)
    rate = before / LOST_WINDOW_S
    if rate <= 0 or end <= at:
        return 0.0
    after = _applied_by(landed, end) - _applied_by(landed, at)
    return max(0.0, (end - at) - after / rate)


def _summary(runs: list[dict[str, object]], protocols: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for protocol in protocols:
        mine = [r for r in runs if r["protocol"] == protocol]
        out[protocol] = {
            change: {
                figure: {"median": round(statistics.median(values), 2), "worst": max(values)}
                for figure in ("fleet_stall_s", "lost_s", "first_assigned_s")
                if (values := [float(r[change][figure]) for r in mine if figure in r[change]])  # type: ignore[index,operator]
            }
            for change in CHANGES
        }
    return out

"""What one applied event costs: client CPU, the primary PostgreSQL's CPU and WAL, for ``bench sink``.

Measured, not estimated:

- **client CPU**: user + system time of the client processes (the ``floodwall consume`` processes of the
  bench fleet, or the bench process itself for a COPY), read from ``/proc/<pid>/stat`` (all threads).
- **database CPU**: user + system time of the primary's postmaster and every process it forked —
  backends, WAL writer, checkpointer, background writer, the WAL senders that feed the replicas,
  autovacuum — read from ``/proc``. A child that exits is reaped by the postmaster, whose ``cutime`` /
  ``cstime`` then hold its time, so short-lived backends are counted too. The primary is found through
  the bench's own connection (``pg_backend_pid()`` and its parent), and trusted only when the parent's
  start time matches ``pg_postmaster_start_time()``: a database on another machine or in another PID
  namespace gives ``None``, never another server's figures. The replicas' CPU is not counted.
- **WAL**: ``pg_current_wal_lsn()`` as a byte position; the difference is every WAL byte the cluster
  wrote in between (the writes' records, full-page images, commits).

:func:`window` turns samples taken while events land into per-event figures between two fill levels.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from floodwall.errors import FloodwallError

Conn = psycopg.Connection[tuple[Any, ...]]
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")
_START_SLACK_S = 2.0  # the postmaster's start in /proc and in PostgreSQL: the same moment, to this much


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the bench needs; times in seconds."""

    comm: str
    ppid: int
    cpu_s: float  # utime + stime: this process, all its threads
    reaped_children_cpu_s: float  # cutime + cstime: children it has waited for
    started_ticks: int  # since boot, in clock ticks


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line (proc(5)); the command name may hold spaces and parentheses.

    Raises ValueError for a line that is not one.
    """
    head, sep, tail = text.rpartition(")")
    if not sep or "(" not in head:
        raise ValueError(f"not a /proc stat line: {text[:60]!r}")
    fields = tail.split()  # fields[0] is field 3 of proc(5), "state"
    if len(fields) < 20:
        raise ValueError(f"not a /proc stat line: {text[:60]!r}")

    def field(number: int) -> int:
        return int(fields[number - 3])

    return ProcStat(
        comm=head.partition("(")[2],
        ppid=field(4),
        cpu_s=(field(14) + field(15)) * _TICK_S,
        reaped_children_cpu_s=(field(16) + field(17)) * _TICK_S,
        started_ticks=field(22),
    )


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/<pid>/stat``, or None when the process is gone."""
    try:
        return parse_stat((_PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def processes_cpu_s(pids: Iterable[int]) -> float:
    """User + system seconds of these processes so far (a process that is gone counts 0)."""
    return sum(stat.cpu_s for pid in pids if (stat := read_stat(pid)) is not None)


def _boot_time_s() -> float:
    for line in (_PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise FloodwallError("/proc/stat has no btime line")


class PostgresCpu:
    """CPU seconds of one local PostgreSQL server (postmaster and all its children), minus ``excluded``."""

    def __init__(self, postmaster: int, excluded: frozenset[int] = frozenset()) -> None:
        self.postmaster = postmaster
        self.excluded = excluded

    @classmethod
    def locate(cls, conn: Conn, *, count_this_backend: bool) -> PostgresCpu | None:
        """The server behind ``conn``, when it runs on this machine and is visible here, else None.

        ``count_this_backend=False`` leaves out ``conn``'s own backend (a watcher that only samples).
        """
        row = conn.execute(
            "SELECT pg_backend_pid(), extract(epoch FROM pg_postmaster_start_time())"
        ).fetchone()
        if row is None:
            return None
        backend = read_stat(int(row[0]))
        if backend is None or backend.comm != "postgres":
            return None
        postmaster = read_stat(backend.ppid)
        if postmaster is None or postmaster.comm != "postgres":
            return None
        started = _boot_time_s() + postmaster.started_ticks * _TICK_S
        if abs(started - float(row[1])) > _START_SLACK_S:
            return None  # a pid of another server (another PID namespace): not this database
        return cls(backend.ppid, frozenset() if count_this_backend else frozenset({int(row[0])}))

    def children(self) -> list[int]:
        # The postmaster is single-threaded: its main task's children are all its children.
        listed = _PROC / str(self.postmaster) / "task" / str(self.postmaster) / "children"
        try:
            return [int(pid) for pid in listed.read_text().split()]
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN: scan /proc
            return [
                int(entry.name)
                for entry in _PROC.iterdir()
                if entry.name.isdigit()
                and (stat := read_stat(int(entry.name))) is not None
                and stat.ppid == self.postmaster
            ]

    def seconds(self) -> float:
        """CPU seconds so far: the postmaster, the children it reaped and the live ones."""
        own = read_stat(self.postmaster)
        if own is None:
            raise FloodwallError("bench: the primary PostgreSQL process went away during the measurement")
        live = [pid for pid in self.children() if pid not in self.excluded]
        return own.cpu_s + own.reaped_children_cpu_s + processes_cpu_s(live)


def wal_bytes(conn: Conn) -> int:
    """The primary's current WAL position, in bytes from the start of WAL."""
    row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counters at one moment."""

    t: float  # time.monotonic()
    landed: float  # events applied so far
    client_cpu_s: float
    db_cpu_s: float | None  # None: the database is not measurable from here
    wal_bytes: float


@dataclass(frozen=True, slots=True)
class Costs:
    """Per-event figures between two samples."""

    events_per_s: float
    client_cpu_us_per_event: float
    db_cpu_us_per_event: float | None
    wal_bytes_per_event: float

    @classmethod
    def between(cls, first: Sample, last: Sample) -> Costs:
        """Raises FloodwallError when no event or no time lies between the samples."""
        events, seconds = last.landed - first.landed, last.t - first.t
        if events <= 0 or seconds <= 0:
            raise FloodwallError("bench: too few events to measure; run with more --events")
        db = None
        if first.db_cpu_s is not None and last.db_cpu_s is not None:
            db = (last.db_cpu_s - first.db_cpu_s) * 1e6 / events
        return cls(
            events_per_s=events / seconds,
            client_cpu_us_per_event=(last.client_cpu_s - first.client_cpu_s) * 1e6 / events,
            db_cpu_us_per_event=db,
            wal_bytes_per_event=(last.wal_bytes - first.wal_bytes) / events,
        )

    def to_json(self) -> dict[str, float | None]:
        return {
            "events_per_s": round(self.events_per_s),
            "client_cpu_us_per_event": round(self.client_cpu_us_per_event, 1),
            "db_cpu_us_per_event": None
            if self.db_cpu_us_per_event is None
            else round(self.db_cpu_us_per_event, 1),
            "wal_bytes_per_event": round(self.wal_bytes_per_event, 1),
        }


def at_level(samples: Sequence[Sample], level: float) -> Sample:
    """The moment ``level`` events had landed, every counter interpolated linearly between the two samples
    around it. The first sample when it already had ``level``; the last when none reached it."""
    for before, after in itertools.pairwise(samples):
        if before.landed < level <= after.landed:
            share = (level - before.landed) / (after.landed - before.landed)
            db = None
            if before.db_cpu_s is not None and after.db_cpu_s is not None:
                db = _mix(before.db_cpu_s, after.db_cpu_s, share)
            return Sample(
                _mix(before.t, after.t, share),
                level,
                _mix(before.client_cpu_s, after.client_cpu_s, share),
                db,
                _mix(before.wal_bytes, after.wal_bytes, share),
            )
    return samples[0] if samples[0].landed >= level else samples[-1]


def _mix(a: float, b: float, share: float) -> float:
    return a + (b - a) * share


def window(samples: Sequence[Sample], expected: int, low: float = 0.1, high: float = 0.9) -> Costs:
    """Per-event costs between the moments ``low`` and ``high`` of ``expected`` events had landed, so that
    joining the group and the tail do not count. Raises FloodwallError when that window is empty."""
    return Costs.between(at_level(samples, low * expected), at_level(samples, high * expected))


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """``numerator / denominator`` rounded, or None when either is unknown or the denominator is not > 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, digits)


def quantiles(values: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of ``values`` (nearest rank). Raises ValueError for no values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return rank(0.5), rank(0.99)

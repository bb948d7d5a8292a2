"""Traffic traces for the simulator: ingress events/s over time, and when the database is writable.

A trace is a CSV file: optional ``#`` comment lines (the first one is the trace's description), a header
``t_s,events_per_s`` or ``t_s,events_per_s,db_up``, then points with strictly increasing ``t_s`` starting at
0. The rate is linear between points; ``db_up`` (1 or 0, default 1) holds from its point to the next, so
``0`` rows mark a window in which the primary cannot take writes (a Patroni failover). The trace lasts until
its last point. Shipped traces live in ``autoscaler/traces/`` and are addressed by name.
"""

from __future__ import annotations

import bisect
import csv
import io
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

from floodwall.errors import ConfigError


@dataclass(frozen=True)
class TracePoint:
    t_s: float
    events_per_s: float
    db_up: bool


@dataclass(frozen=True)
class Trace:
    """A parsed trace; all lookups are pure."""

    name: str
    description: str
    points: tuple[TracePoint, ...]

    @property
    def duration_s(self) -> int:
        return int(self.points[-1].t_s)

    @cached_property
    def _times(self) -> list[float]:
        return [p.t_s for p in self.points]  # looked up every simulated second: built once

    def rate_at(self, t: float) -> float:
        """Events/s at ``t`` (linear between points, the last value after the end)."""
        i = bisect.bisect_right(self._times, t) - 1
        if i >= len(self.points) - 1:
            return self.points[-1].events_per_s
        a, b = self.points[max(i, 0)], self.points[max(i, 0) + 1]
        share = (t - a.t_s) / (b.t_s - a.t_s)
        return a.events_per_s + share * (b.events_per_s - a.events_per_s)

    def db_up_at(self, t: float) -> bool:
        """Whether the primary takes writes at ``t`` (the last point at or before ``t`` says)."""
        return self.points[max(bisect.bisect_right(self._times, t) - 1, 0)].db_up

    def events_between(self, t0: float, t1: float) -> float:
        """Events arriving in ``[t0, t1)`` (trapezoid: exact for a linear rate)."""
        return (self.rate_at(t0) + self.rate_at(t1)) / 2 * (t1 - t0)

    @property
    def peak_events_per_s(self) -> float:
        return max(p.events_per_s for p in self.points)

    def spike_end_s(self) -> int:
        """The last whole second at which the rate is at least half its peak: where ``drain_s`` starts."""
        peak = self.peak_events_per_s
        return max(t for t in range(self.duration_s + 1) if self.rate_at(t) >= peak / 2)


def trace_csv(trace: Trace) -> str:
    """``trace`` in the file format above (its description as the first comment): what
    :func:`parse_trace` reads back as the same points."""
    lines = [
        f"# {trace.description}" if trace.description else "# (no description)",
        "t_s,events_per_s,db_up",
    ]
    lines += [f"{p.t_s:g},{p.events_per_s:.3f},{int(p.db_up)}" for p in trace.points]
    return "\n".join(lines) + "\n"


def shipped_names() -> list[str]:
    """Names of the traces packaged with Floodwall."""
    folder = resources.files("floodwall.autoscaler") / "traces"
    return sorted(f.name.removesuffix(".csv") for f in folder.iterdir() if f.name.endswith(".csv"))


def load_trace(name_or_path: str) -> Trace:
    """A shipped trace by name, or a CSV file by path. Raises :class:`ConfigError` with one line."""
    if name_or_path in shipped_names():
        text = (resources.files("floodwall.autoscaler") / "traces" / f"{name_or_path}.csv").read_text("utf-8")
        return parse_trace(text, name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"trace {name_or_path!r} is neither a shipped trace ({', '.join(shipped_names())}) nor a file"
        )
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trace file {path} cannot be read: {exc}") from None
    return parse_trace(text, str(path))


def parse_trace(text: str, name: str) -> Trace:
    """Parse trace CSV text; every problem is a :class:`ConfigError` naming the line."""
    lines = text.splitlines()
    comments = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
    rows = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    if not rows:
        raise ConfigError(f"trace {name}: empty (expected a header t_s,events_per_s[,db_up])")
    header_line, header = rows[0][0], [c.strip() for c in rows[0][1].split(",")]
    if header not in (["t_s", "events_per_s"], ["t_s", "events_per_s", "db_up"]):
        raise ConfigError(
            f"trace {name} line {header_line}: header must be t_s,events_per_s[,db_up], got {rows[0][1]!r}"
        )
    points: list[TracePoint] = []
    for n, line in rows[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        points.append(_point(name, n, cells, len(header), points[-1] if points else None))
    if len(points) < 2 or points[0].t_s != 0:
        raise ConfigError(f"trace {name}: needs at least two points, the first at t_s 0")
    return Trace(name=Path(name).stem, description=comments[0] if comments else "", points=tuple(points))


def _point(name: str, n: int, cells: list[str], width: int, previous: TracePoint | None) -> TracePoint:
    where = f"trace {name} line {n}"
    if len(cells) != width:
        raise ConfigError(f"{where}: expected {width} values, got {len(cells)}")
    try:
        t_s, rate = float(cells[0]), float(cells[1])
    except ValueError:
        raise ConfigError(f"{where}: t_s and events_per_s must be numbers, got {','.join(cells)!r}") from None
    up = cells[2].strip() if width == 3 else "1"
    if up not in ("0", "1"):
        raise ConfigError(f"{where}: db_up must be 1 or 0, got {up!r}")
    if rate < 0 or t_s < 0 or t_s != int(t_s):
        raise ConfigError(f"{where}: t_s must be a whole number of seconds and events_per_s >= 0")
    if previous is not None and t_s <= previous.t_s:
        raise ConfigError(f"{where}: t_s {t_s:g} does not increase (previous {previous.t_s:g})")
    return TracePoint(t_s, rate, up == "1")

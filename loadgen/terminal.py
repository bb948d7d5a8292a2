"""The terminal face of a run: progress bars while it goes, a summary with the verdict at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

_STYLE = {"PASS": "bold white on green", "FAIL": "bold white on red"}


def progress_bars(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(bar_width=36),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        transient=False,
    )


class PlainTicker:
    """One plain line every ``every_s`` seconds, only on a console that is not a terminal: written to a
    file or a pipe (CI, ``tee``), a progress bar shows nothing until it ends, so a long phase would
    print nothing for minutes. Call it as often as you like with a function that makes the line; the
    line is made only when it is printed."""

    def __init__(
        self, console: Console, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._console, self._every_s, self._clock = console, every_s, clock
        self._on = not console.is_terminal
        self._next = clock() + every_s

    def __call__(self, line: Callable[[], str]) -> None:
        if not self._on or self._clock() < self._next:
            return
        self._next = self._clock() + self._every_s
        self._console.print(line(), markup=False, highlight=False, soft_wrap=True)


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not (value.is_integer() and not unit):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, float):
        value = int(value)
    return f"{value:,}{unit}"


def _figures(r: dict[str, Any]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim")
    t.add_column(justify="right")
    t.add_column(style="dim")
    t.add_column(justify="right")
    rate = r["rate"]
    lat = r.get("latency_s", {})
    rej = r.get("rejected_reservations", {})
    worst = rate["worst_window_error"]
    rows = [
        ("acknowledged", _fmt(r["acknowledged"]), "emitted", _fmt(r["emitted"])),
        ("missing", _fmt(r["missing"]), "duplicated", _fmt(r["duplicated"])),
        ("oversold SKUs", _fmt(r["oversold_skus"]), "sold-out SKUs", _fmt(r.get("skus", {}).get("sold_out"))),
        ("rejected reservations", _fmt(rej.get("count")), "explained / predicted",
         f"{_fmt(rej.get('explained'))} / {_fmt(rej.get('predicted'))}"),
        ("latency p50", _fmt(lat.get("p50"), " s"), "latency p99", _fmt(r["latency_p99_s"], " s")),
        ("latency max", _fmt(lat.get("max"), " s"), "drain", _fmt(r["drain_s"], " s")),
        ("peak lag (admin API)", _fmt(r["peak_lag_events"]), "peak backlog", _fmt(r["peak_backlog_events"])),
        ("peak replicas", _fmt(r["peak_replicas"]), "peak commit p99", _fmt(r["peak_commit_p99_s"], " s")),
        ("senders", _fmt(rate["senders"]), "worst 10 s rate error",
         "—" if worst is None else f"{worst * 100:+.1f} %"),
        ("late > 100 ms", _fmt(rate["late_events"]), "max lateness", _fmt(rate["max_lateness_s"], " s", 3)),
    ]  # fmt: skip
    for row in rows:
        t.add_row(*row)
    return t


def _types(r: dict[str, Any]) -> Table | None:
    per_type = r.get("events_per_type")
    if not per_type:
        return None
    t = Table(title="events per type", title_justify="left", box=None, padding=(0, 2))
    for name in ("type", "in trace", "applied", "rejected"):
        t.add_column(name, justify="left" if name == "type" else "right")
    for name, counts in per_type.items():
        t.add_row(name, _fmt(counts["in_trace"]), _fmt(counts["applied"]), _fmt(counts["rejected"]))
    return t


def print_summary(report: dict[str, Any], console: Console, files: list[Path]) -> None:
    verdict = report["verdict"]
    profile = report["run"]["profile"]
    head = Text(f" {verdict} ", style=_STYLE.get(verdict, "bold reverse"))
    head.append(f"  {profile['name']}, peak {profile['peak']:,.0f} events/s for {profile['duration_s']:g} s")
    parts: list[Any] = [head, Text(""), _figures(report)]
    types = _types(report)
    if types is not None:
        parts += [Text(""), types]
    if report["reasons"]:
        parts.append(Text(""))
        parts += [Text(f"✗ {reason}", style="red") for reason in report["reasons"]]
    parts.append(Text("\n" + "  ".join(str(f) for f in files), style="dim"))
    console.print(Panel(Group(*parts), title="floodwall loadgen", expand=False))

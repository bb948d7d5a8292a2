"""``report.png``: the run at a glance — rates, lag, replicas and commit latency over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

_VERDICT_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e"}


def write_chart(report: dict[str, Any], path: Path) -> None:
    """Draw five panels sharing the time axis (seconds since the profile started)."""
    rows: list[dict[str, int]] = report["per_second"]
    series: dict[str, list[list[float]]] = report["series"]
    scenario: dict[str, Any] = report.get("scenario") or {}
    fig, axes = plt.subplots(
        5, 1, figsize=(11, 13), sharex=True, gridspec_kw={"height_ratios": [2.6, 1.8, 1.8, 1.1, 1.5]}
    )
    # Each panel says what to print over it when it has no data.
    empty = [
        _rates(axes[0], rows, scenario),
        _writes(axes[1], series.get("rows_per_s", []), scenario),
        _lag(axes[2], rows, series.get("lag_events", [])),
        _replicas(axes[3], series.get("replicas", [])),
        _commit(axes[4], series.get("commit_p99_s", []), scenario.get("direct_write")),
    ]
    axes[-1].set_xlabel("time since the profile started (s)")
    drained_at = _drained_at(report)
    for ax, note in zip(axes, empty, strict=True):
        ax.grid(True, alpha=0.3)
        if drained_at is not None:
            ax.axvline(drained_at, color="grey", linestyle=":", linewidth=1.2, label="pipeline drained")
        if note:
            ax.text(
                0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="grey"
            )
        ax.legend(loc="upper right", fontsize=8)
    _faults(axes, scenario.get("faults", []))
    if drained_at is not None and report.get("drain_s") is not None:
        label = f"drained {report['drain_s']:.0f} s after the last send"
        axes[2].annotate(label, (drained_at, 0), xytext=(-6, 18), textcoords="offset points", ha="right",
                         fontsize=8, color="grey")  # fmt: skip
    fig.suptitle(_title(report), fontsize=13, color=_VERDICT_COLOURS.get(report["verdict"], "black"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _faults(axes: Any, faults: list[dict[str, Any]]) -> None:
    """A line on every panel at each injected fault, named on the top panel with its stall."""
    for n, fault in enumerate(faults):
        for ax in axes:
            ax.axvline(fault["at_s"], color="#8250df", linestyle="-.", linewidth=1.1, alpha=0.8)
        label = f"{fault['kind']} (stall {fault.get('stall_s', '?')} s)"
        offset = (3, -12 - 11 * n)  # stacked, so that close faults do not print over each other
        axes[0].annotate(label, (fault["at_s"], 1.0), xycoords=("data", "axes fraction"), xytext=offset,
                         textcoords="offset points", fontsize=7.5, color="#8250df")  # fmt: skip


def _title(report: dict[str, Any]) -> str:
    profile = report["run"]["profile"]
    head = (
        f"Floodwall load test — {profile['name']}, peak {profile['peak']:,.0f} events/s, "
        f"{profile['duration_s']:g} s"
    )
    figures = [f"{report['acknowledged']:,} acknowledged"]
    if report.get("missing") is not None:
        figures += [f"{report['missing']} missing", f"{report['duplicated']} duplicated",
                    f"{report['oversold_skus']} oversold SKUs"]  # fmt: skip
    if report.get("latency_p99_s") is not None:
        figures.append(f"latency p99 {report['latency_p99_s']:.2f} s")
    title = f"{head}\n{report['verdict']}: " + ", ".join(figures)
    ratio = (report.get("scenario") or {}).get("peak_over_budget")
    if ratio is not None:
        title += f"\npeak ingress = {ratio:.1f}x the database write budget"
    return title


def _rates(ax: Axes, rows: list[dict[str, int]], scenario: dict[str, Any]) -> str | None:
    t = [r["t"] + 0.5 for r in rows]  # each count covers [t, t + 1): draw it mid-second
    ax.plot(t, [r["target"] for r in rows], "--", color="black", linewidth=1, label="target (schedule)")
    ax.plot(t, [r["sent"] for r in rows], color="#8250df", linewidth=1, alpha=0.7, label="sent (SDK emit)")
    ax.plot(t, [r["acked"] for r in rows], color="#0969da", linewidth=1.6, label="ingress (broker acks)")
    if rows and "applied" in rows[0]:
        ax.plot(t, [r["applied"] for r in rows], color="#1a7f37", linewidth=1.6, label="applied (PostgreSQL)")
    budget, per_event = scenario.get("write_budget_rows_per_s"), scenario.get("rows_per_event")
    if budget and per_event:
        label = f"write budget: {budget / per_event:,.0f} events/s at {per_event:.1f} rows/event"
        ax.axhline(budget / per_event, color="#cf222e", linestyle="--", linewidth=1.2, label=label)
    ax.set_ylabel("events / s")
    ax.set_title("ingress vs applied rate", fontsize=10, loc="left")
    return None if rows else "no events"


def _writes(ax: Axes, points: list[list[float]], scenario: dict[str, Any]) -> str | None:
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], color="#1a7f37", linewidth=1.4,
                label="rows/s written by the fleet (Prometheus, 15 s rate)")  # fmt: skip
    budget = scenario.get("write_budget_rows_per_s")
    if budget:
        ax.axhline(
            budget, color="#cf222e", linestyle="--", linewidth=1.2, label=f"write budget {budget:,.0f} rows/s"
        )
    peak = scenario.get("peak_ingress_rows_per_s")
    if peak:
        label = f"peak ingress as rows: {peak:,.0f} rows/s (what a direct write must take)"
        ax.axhline(peak, color="#0969da", linestyle=":", linewidth=1.2, label=label)
    ax.set_ylabel("rows / s")
    ax.set_title("what the primary took", fontsize=10, loc="left")
    return None if points or budget else "no write data (Prometheus unreachable or no consumer registered)"


def _lag(ax: Axes, rows: list[dict[str, int]], lag: list[list[float]]) -> str | None:
    if rows and "backlog" in rows[0]:
        ax.fill_between([r["t"] + 1 for r in rows], [r["backlog"] for r in rows], step="pre", color="#fb8500",
                        alpha=0.3, label="backlog: acknowledged - applied (exact)")  # fmt: skip
    if lag:
        ax.plot([p[0] for p in lag], [p[1] for p in lag], color="#bc4c00", linewidth=1.4,
                label="consumer-group lag (Kafka admin API)")  # fmt: skip
    ax.set_ylabel("events")
    ax.set_title("lag", fontsize=10, loc="left")
    return None if lag or (rows and "backlog" in rows[0]) else "no lag data"


def _replicas(ax: Axes, points: list[list[float]]) -> str | None:
    if points:
        ax.step(
            [p[0] for p in points],
            [p[1] for p in points],
            where="post",
            color="#6e7781",
            label="consumers up (Prometheus, or fed by the caller)",
        )
        ax.set_ylim(0, max(p[1] for p in points) + 1)
    ax.set_ylabel("replicas")
    ax.set_title("consumer replicas", fontsize=10, loc="left")
    return None if points else "no replica data (no probe fed this series)"


def _commit(ax: Axes, points: list[list[float]], direct: dict[str, Any] | None) -> str | None:
    top = 0.0
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], color="#cf222e", linewidth=1.4,
                label="Floodwall batch commit p99 (Prometheus, 15 s rate)")  # fmt: skip
        top = max(p[1] for p in points)
    if direct and direct.get("commit_p99_s") is not None:
        p99 = float(direct["commit_p99_s"])
        label = (
            f"direct writes, one event per transaction: p99 {p99 * 1000:,.0f} ms "
            f"at {direct['events_per_s']:,.0f} events/s ({direct['writers']} writers)"
        )
        ax.axhline(p99, color="#6e7781", linestyle="--", linewidth=1.2, label=label)
        top = max(top, p99)
    if top > 0:
        ax.set_ylim(0, top * 1.35)  # head-room for the legend
    ax.set_ylabel("seconds")
    ax.set_title("database commit latency", fontsize=10, loc="left")
    return None if points else "no commit latency data (Prometheus unreachable or no consumer registered)"


def _drained_at(report: dict[str, Any]) -> float | None:
    """When the run's last event was applied (seconds since t = 0), if it drained."""
    at = report["run"].get("drained_at_s")
    return None if at is None or report.get("drain_s") is None else float(at)

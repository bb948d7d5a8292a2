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
    """Draw four panels sharing the time axis (seconds since the profile started)."""
    rows: list[dict[str, int]] = report["per_second"]
    series: dict[str, list[list[float]]] = report["series"]
    fig, axes = plt.subplots(
        4, 1, figsize=(11, 11), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.2, 1.5]}
    )
    # Each panel says what to print over it when it has no data.
    empty = [
        _rates(axes[0], rows),
        _lag(axes[1], rows, series.get("lag_events", [])),
        _replicas(axes[2], series.get("replicas", [])),
        _commit(axes[3], series.get("commit_p99_s", [])),
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
    fig.suptitle(_title(report), fontsize=13, color=_VERDICT_COLOURS.get(report["verdict"], "black"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    return f"{head}\n{report['verdict']}: " + ", ".join(figures)


def _rates(ax: Axes, rows: list[dict[str, int]]) -> str | None:
    t = [r["t"] + 0.5 for r in rows]  # each count covers [t, t + 1): draw it mid-second
    ax.plot(t, [r["target"] for r in rows], "--", color="black", linewidth=1, label="target (schedule)")
    ax.plot(t, [r["sent"] for r in rows], color="#8250df", linewidth=1, alpha=0.7, label="sent (SDK emit)")
    ax.plot(t, [r["acked"] for r in rows], color="#0969da", linewidth=1.6, label="ingress (broker acks)")
    if rows and "applied" in rows[0]:
        ax.plot(t, [r["applied"] for r in rows], color="#1a7f37", linewidth=1.6, label="applied (PostgreSQL)")
    ax.set_ylabel("events / s")
    ax.set_title("ingress vs applied rate", fontsize=10, loc="left")
    return None if rows else "no events"


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


def _commit(ax: Axes, points: list[list[float]]) -> str | None:
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], color="#cf222e", linewidth=1.4,
                label="commit latency p99 (Prometheus, 15 s rate)")  # fmt: skip
        ax.set_ylim(0, max(p[1] for p in points) * 1.35)  # head-room for the legend
    ax.set_ylabel("seconds")
    ax.set_title("database commit latency", fontsize=10, loc="left")
    return None if points else "no commit latency data (Prometheus unreachable or no consumer registered)"


def _drained_at(report: dict[str, Any]) -> float | None:
    """When the run's last event was applied (seconds since t = 0), if it drained."""
    at = report["run"].get("drained_at_s")
    return None if at is None or report.get("drain_s") is None else float(at)

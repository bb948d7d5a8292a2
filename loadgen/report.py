"""The report of a run as one JSON document (``report.json``): the verdict and the figures behind it.

Pure assembly from what the run recorded, the drain wait and the database checks; the terminal summary
(terminal.py) and the chart (chart.py) are drawn from this document alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floodwall.loadgen.drain import DrainResult
from floodwall.loadgen.pacer import PerSecond, windows, worst_error
from floodwall.loadgen.record import RunRecord
from floodwall.loadgen.verdict import Findings, Verdict
from floodwall.loadgen.verify import DbReport
from floodwall.privatefs import write_private

ACCURACY_WINDOW_S = 10
STALL_WINDOW_S = 30  # a fault's stall begins within this many seconds of it
PEAK_WINDOW_S = 5  # the peak ingress is the best average over this many seconds
NOT_VERIFIED = "NOT VERIFIED"


def duplicated_of(db: DbReport) -> int:
    """Events that took effect more than once: an id processed twice (the primary key should make that
    impossible), an order with more item rows than it was placed with, a SKU whose stock row is above
    the sum of its ledger (an adjustment applied twice)."""
    return db.duplicated_ids + db.extra_order_lines + len(db.skus.stock_above_ledger)


def drain_seconds(run: RunRecord, drain: DrainResult | None, db: DbReport | None) -> float | None:
    """Seconds from the end of sending (every event acknowledged) until the run's last event was in
    PostgreSQL — read from the database, so it holds however late verification runs. ``committed_at``
    is its transaction's start: this understates by at most one commit. None when not drained."""
    if drain is None or not drain.drained or db is None or db.last_applied_at is None:
        return None
    return max(0.0, db.last_applied_at - run.finished_at)


def findings_of(run: RunRecord, drain: DrainResult, db: DbReport) -> Findings:
    """What the verdict looks at, from the run, the drain wait and the database checks."""
    complete = (
        not run.interrupted and run.accepted == run.emitted == run.footer.get("records") and not db.missing
    )
    return Findings(
        emitted=run.emitted,
        accepted=run.accepted,
        not_accepted=run.emitted - run.accepted,
        drained=drain.drained,
        drain_remaining=drain.remaining,
        missing=db.missing,
        duplicated=duplicated_of(db),
        lost_effects=db.missing_order_lines + len(db.skus.stock_below_ledger),
        oversold_skus=db.skus.oversold,
        rejected_reservations=db.rejections.reservations,
        unexplained_rejections=db.rejections.unexplained,
        unexpected_rejections=db.rejections.unexpected,
        inconsistent_applied=db.rejections.inconsistent_applied,
        preexisting=db.preexisting,
        # The model's prediction holds only when every event of the trace went through.
        predicted_rejected=run.footer["prediction"]["rejected_reservations"] if complete else None,
        interrupted=run.interrupted,
        failures=run.failures,
    )


def timeline(run: RunRecord, ingress: PerSecond, db: DbReport | None) -> list[dict[str, int]]:
    """Per second since t = 0: scheduled, sent, acknowledged, applied, and the backlog (acknowledged but
    not yet applied, exact: counted in PostgreSQL, not from offsets committed a batch later)."""
    applied = db.applied_per_s if db else []
    seconds = max(len(run.target_per_s), len(run.sent_per_s), len(ingress.counts), len(applied))
    rows: list[dict[str, int]] = []
    acked_total, applied_total = ingress.before, db.applied_before if db else 0
    for s in range(seconds):
        acked_total += _at(ingress.counts, s)
        applied_total += _at(applied, s)
        row = {
            "t": s,
            "target": _at(run.target_per_s, s),
            "sent": _at(run.sent_per_s, s),
            "acked": _at(ingress.counts, s),
        }
        if db:
            row |= {"applied": _at(applied, s), "backlog": max(0, acked_total - applied_total)}
        rows.append(row)
    return rows


def build_report(
    run: RunRecord,
    ingress: PerSecond,
    drain: DrainResult | None,
    db: DbReport | None,
    verdict: Verdict | None,
    scenario: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document. Without ``db`` (send-only runs) the verdict is NOT VERIFIED. ``scenario``
    (what the caller set up: the write budget, a direct-write measurement) is kept under "scenario",
    with the peak's ratio to the budget when both are known."""
    rows = timeline(run, ingress, db)
    accuracy = windows(run.target_per_s, run.sent_per_s, ACCURACY_WINDOW_S)
    peak = {name: _peak(points) for name, points in run.series.items()}
    report: dict[str, Any] = {
        "verdict": verdict.label if verdict else NOT_VERIFIED,
        "reasons": verdict.reasons if verdict else _unverified_reasons(run),
        "acknowledged": run.accepted,
        "missing": db.missing if db else None,
        "duplicated": None,
        "oversold_skus": len(db.skus.oversold) if db else None,
        "latency_p99_s": _round(db.latency_s.get("p99")) if db else None,
        "drain_s": _round(drain_seconds(run, drain, db)),
        # Replicas come from a probe: the local stack's Prometheus (consumers that registered), or
        # whatever the caller feeds (the autoscaler). None when nothing was fed.
        "peak_replicas": None if peak.get("replicas") is None else int(peak["replicas"] or 0),
        "peak_lag_events": peak.get("lag_events"),
        "peak_backlog_events": max((r.get("backlog", 0) for r in rows), default=None) if db else None,
        "peak_commit_p99_s": _round(peak.get("commit_p99_s")),
        "emitted": run.emitted,
        "delivery": dict(sorted(run.statuses.items())),
        "rate": {
            "senders": run.senders,
            "target_events": sum(run.target_per_s),
            "sent_events": sum(run.sent_per_s),
            "late_events": run.late_events,
            "max_lateness_s": _round(run.late_max_s),
            "windows_10s": [w.to_json() for w in accuracy],
            "worst_window_error": _round(worst_error(accuracy), 5),
        },
        "run": {
            "profile": run.header["profile"],
            "workload": run.header["workload"],
            "trace": run.trace_path,
            "start_at": run.start_at,
            "send_s": _round(run.finished_at - run.start_at),
            "drained_at_s": None
            if not db or db.last_applied_at is None
            else _round(db.last_applied_at - run.start_at),
            "drain_wait_s": _round(drain.seconds) if drain else None,
            "interrupted": run.interrupted,
            "prediction": run.footer["prediction"],
        },
        "per_second": rows,
        "series": {name: [list(p) for p in points] for name, points in run.series.items()},
    }
    if db:
        report |= _db_part(run, db)
    if scenario is not None:
        report["scenario"] = scenario_figures(rows, run.series, scenario)
    return report


def scenario_figures(
    rows: list[dict[str, int]], series: Mapping[str, list[tuple[float, float]]], scenario: Mapping[str, Any]
) -> dict[str, Any]:
    """The caller's scenario plus what the run measured against it: the rows one event wrote (median of
    the sampled ratio), the peak ingress (best 5 s average of events sent) in events and rows/s, its
    ratio to the write budget, and the most rows/s the fleet wrote."""
    out = dict(scenario)
    ratios = sorted(v for _, v in series.get("rows_per_event", []) if v > 0)
    # What the services emitted, not what the broker acknowledged: a spool replayed after a broker
    # outage is a burst of acknowledgements, not a peak of the sale.
    sent = [r["sent"] for r in rows]
    peak = max((sum(sent[i : i + PEAK_WINDOW_S]) / PEAK_WINDOW_S for i in range(len(sent))), default=0.0)
    out["peak_ingress_events_per_s"] = round(peak, 1)
    written = [v for _, v in series.get("rows_per_s", [])]
    out["peak_written_rows_per_s"] = _round(max(written, default=None), 1)
    out["faults"] = fault_stalls(rows, out.get("faults", []))
    budget = float(out.get("write_budget_rows_per_s") or 0)
    if ratios:
        per_event = ratios[len(ratios) // 2]
        out["rows_per_event"] = round(per_event, 3)
        out["peak_ingress_rows_per_s"] = round(peak * per_event, 1)
        if budget > 0:
            out["peak_over_budget"] = round(peak * per_event / budget, 2)
    return out


def _db_part(run: RunRecord, db: DbReport) -> dict[str, Any]:
    sent: dict[str, int] = run.footer["prediction"]["by_type"]
    types = sorted(set(sent) | set(db.by_type))
    return {
        "duplicated": duplicated_of(db),
        "oversold_sku_names": db.skus.oversold,
        "latency_s": {k: _round(v) for k, v in db.latency_s.items()},
        "events_per_type": {
            t: {"in_trace": sent.get(t, 0), **db.by_type.get(t, {"applied": 0, "rejected": 0})} for t in types
        },
        "rejected_reservations": {
            "count": db.rejections.reservations,
            "explained": db.rejections.reservations - db.rejections.unexplained,
            "unexplained": db.rejections.unexplained,
            "unexplained_samples": db.rejections.unexplained_samples,
            "predicted": run.footer["prediction"]["rejected_reservations"],
        },
        "unexpected_rejections": db.rejections.unexpected,
        "missing_samples": db.missing_samples,
        "effects": {
            "extra_order_lines": db.extra_order_lines,
            "missing_order_lines": db.missing_order_lines,
            "stock_above_ledger": db.skus.stock_above_ledger,
            "stock_below_ledger": db.skus.stock_below_ledger,
            "inconsistent_applied": db.rejections.inconsistent_applied,
            "preexisting": db.preexisting,
        },
        "skus": {"total": db.skus.skus, "sold_out": db.skus.sold_out},
    }


def fault_stalls(rows: list[dict[str, int]], faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each fault with its ``stall_s``: a stall that begins before the next fault is this fault's."""
    applied = [r.get("applied", 0) for r in rows]
    ordered = sorted(faults, key=lambda f: float(f["at_s"]))
    out = []
    for n, fault in enumerate(ordered):
        at = float(fault["at_s"])
        until = float(ordered[n + 1]["at_s"]) if n + 1 < len(ordered) else at + STALL_WINDOW_S
        window = max(1, min(STALL_WINDOW_S, round(until - at)))
        out.append(fault | {"stall_s": stall_after(applied, at, window)})
    return out


def stall_after(applied_per_s: list[int], at_s: float, window_s: int = STALL_WINDOW_S) -> int:
    """Seconds of the longest run with nothing applied that begins within ``window_s`` after ``at_s``
    (a fault's stall, read from PostgreSQL's own commit times; 0: the applied rate never stopped)."""
    first = max(0, int(at_s) - 1)
    longest = 0
    start = first
    while start < min(len(applied_per_s), first + window_s):
        if applied_per_s[start]:
            start += 1
            continue
        end = start
        while end < len(applied_per_s) and not applied_per_s[end]:
            end += 1
        longest = max(longest, end - start)
        start = end
    return longest


def _unverified_reasons(run: RunRecord) -> list[str]:
    """What is wrong with a send-only run (it has no verdict, but it can still fall short)."""
    reasons = ["the run was interrupted before the whole trace was sent"] if run.interrupted else []
    if run.accepted < run.emitted:
        reasons.append(f"{run.emitted - run.accepted} of {run.emitted} events were not accepted by the SDK")
    return reasons


def write_json(report: dict[str, Any], path: Path) -> None:
    write_private(path, json.dumps(report, indent=1) + "\n")


def ingress_per_second(acked_times: list[float], start_at: float) -> PerSecond:
    """Acknowledgements per second since t = 0 (the ingress rate the broker saw)."""
    counts = PerSecond()
    for t in acked_times:
        counts.add(t - start_at)
    return counts


def _at(values: list[int], index: int) -> int:
    return values[index] if index < len(values) else 0


def _peak(points: list[tuple[float, float]]) -> float | None:
    return max((v for _, v in points), default=None)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)

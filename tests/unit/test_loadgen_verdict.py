"""Verification arithmetic on synthetic inputs: SKU findings, the verdict, the report and its chart."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from floodwall.loadgen.chart import write_chart
from floodwall.loadgen.drain import DrainResult
from floodwall.loadgen.pacer import PerSecond
from floodwall.loadgen.record import RunRecord, Target
from floodwall.loadgen.report import build_report, findings_of, timeline, write_json
from floodwall.loadgen.verdict import Findings, SkuFindings, SkuLedger, judge, judge_skus
from floodwall.loadgen.verify import DbReport, Rejections


def sku(name: str, **kw: int | None) -> SkuLedger:
    base = {"lowest": 0, "reserved": 10, "supplied": 10, "ledger_level": 0, "stock_level": 0,
            "rejected_reservations": 0}  # fmt: skip
    return SkuLedger(name, "wh-1", **{**base, **kw})  # type: ignore[arg-type]


def test_judge_skus_finds_oversold_and_stock_that_disagrees_with_the_ledger() -> None:
    found = judge_skus([
        sku("ok", rejected_reservations=3),
        sku("below-zero", lowest=-1),
        sku("reserved-too-much", reserved=11),
        sku("negative-row", stock_level=-2, ledger_level=-2),
        sku("twice", stock_level=5, ledger_level=3),
        sku("lost", stock_level=1, ledger_level=3),
        sku("no-row", stock_level=None, ledger_level=0, lowest=None, reserved=0, supplied=0),
    ])  # fmt: skip
    assert found.oversold == ["below-zero@wh-1", "reserved-too-much@wh-1", "negative-row@wh-1"]
    assert found.stock_above_ledger == ["twice@wh-1"] and found.stock_below_ledger == ["lost@wh-1"]
    assert found.sold_out == 1 and found.skus == 7


CLEAN = Findings(
    emitted=100, accepted=100, not_accepted=0, drained=True, drain_remaining=0, missing=0, duplicated=0,
    lost_effects=0, oversold_skus=[], rejected_reservations=7, unexplained_rejections=0,
    unexpected_rejections={}, inconsistent_applied=0, preexisting=0, predicted_rejected=7,
)  # fmt: skip


def test_clean_findings_pass() -> None:
    verdict = judge(CLEAN)
    assert verdict.passed and verdict.label == "PASS" and verdict.reasons == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"missing": 3}, "3 acknowledged events are missing"),
        ({"duplicated": 1}, "1 events took effect more than once"),
        ({"oversold_skus": ["a@w", "b@w"]}, "2 SKUs oversold: a@w, b@w"),
        ({"unexplained_rejections": 2}, "2 rejected reservations do not match"),
        ({"unexpected_rejections": {"unknown order": 4}}, "4 events rejected unexpectedly: unknown order"),
        ({"drained": False, "drain_remaining": 9}, "did not drain: 9 acknowledged"),
        ({"not_accepted": 2}, "2 of 100 events were not accepted"),
        ({"predicted_rejected": 8}, "7 reservations rejected, the model predicted 8"),
        ({"preexisting": 5}, "5 events had been applied before this run"),
        ({"lost_effects": 1}, "1 orders or SKUs lost part"),
        ({"interrupted": True}, "interrupted"),
    ],
)
def test_each_broken_promise_fails_with_its_reason(change: dict[str, object], reason: str) -> None:
    verdict = judge(replace(CLEAN, **change))  # type: ignore[arg-type]
    assert not verdict.passed and verdict.label == "FAIL"
    assert len(verdict.reasons) == 1 and reason in verdict.reasons[0]


def run_record() -> RunRecord:
    return RunRecord(
        header={"profile": {"name": "steady", "peak": 10.0, "duration_s": 3.0},
                "workload": {"namespace": "n", "seed": 1}},
        footer={"records": 32, "prediction": {"rejected_reservations": 2, "by_type": {"order.placed": 32}}},
        trace_path="t.fwt", target=Target("g", "o", "i"), start_at=1000.0, finished_at=1003.5, senders=1,
        interrupted=False, statuses={"acknowledged": 32}, target_per_s=[10, 10, 10], sent_per_s=[10, 9, 11],
        late_events=0, late_max_s=0.01,
        series={"lag_events": [(0.0, 0.0), (1.0, 7.0)], "replicas": [(0.0, 2.0)]},
    )  # fmt: skip


def db_report(**kw: object) -> DbReport:
    base = dict(
        accepted=32, missing=0, missing_samples=[], duplicated_ids=0, preexisting=0,
        by_type={"order.placed": {"applied": 32, "rejected": 0}},
        latency_s={"p50": 0.1, "p90": 0.2, "p99": 0.3, "p999": 0.4, "max": 0.5},
        applied_per_s=[5, 10, 15], applied_before=2, last_applied_at=1004.75, extra_order_lines=0,
        missing_order_lines=0,
        rejections=Rejections(reservations=2), skus=SkuFindings(skus=4, sold_out=1),
    )  # fmt: skip
    return DbReport(**{**base, **kw})  # type: ignore[arg-type]


def test_timeline_backlog_is_acknowledged_minus_applied() -> None:
    ingress = PerSecond()
    for t in [-0.5, -0.2] + [0.1] * 10 + [1.1] * 10 + [2.1] * 10:
        ingress.add(t)
    rows = timeline(run_record(), ingress, db_report())
    assert [r["acked"] for r in rows] == [10, 10, 10]
    assert [r["applied"] for r in rows] == [5, 10, 15]
    # before t = 0: 2 acknowledged, 2 applied; then +10 acked and +5, +10, +15 applied each second.
    assert [r["backlog"] for r in rows] == [5, 5, 0]


def test_report_has_the_documented_keys_and_the_chart_is_drawn(tmp_path: Path) -> None:
    run, db = run_record(), db_report()
    drain = DrainResult(True, 9.0, 0)
    verdict = judge(findings_of(run, drain, db))
    assert verdict.passed, verdict.reasons
    report = build_report(run, PerSecond(), drain, db, verdict)
    keys = ("verdict", "acknowledged", "missing", "duplicated", "oversold_skus", "latency_p99_s", "drain_s",
            "peak_replicas", "peak_lag_events", "rejected_reservations", "events_per_type")  # fmt: skip
    assert all(key in report for key in keys), [k for k in keys if k not in report]
    assert (report["verdict"], report["acknowledged"], report["missing"], report["duplicated"]) == (
        "PASS",
        32,
        0,
        0,
    )
    # Drain: from the end of sending (1003.5) to the last commit (1004.75), not the wait's own length.
    assert (report["latency_p99_s"], report["drain_s"], report["peak_replicas"]) == (0.3, 1.25, 2)
    assert report["run"]["drained_at_s"] == 4.75
    assert report["rate"]["windows_10s"] == [] and report["rate"]["sent_events"] == 30
    write_json(report, tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "PASS"
    write_chart(report, tmp_path / "report.png")
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unfed_replicas_are_null_and_a_failure_shows_in_the_report() -> None:
    run = run_record()
    run.series.pop("replicas")
    db = db_report(missing=1, missing_samples=["x"])
    drain = DrainResult(True, 0.5, 0)
    report = build_report(run, PerSecond(), drain, db, judge(findings_of(run, drain, db)))
    assert report["peak_replicas"] is None
    assert report["verdict"] == "FAIL" and any("missing" in r for r in report["reasons"])
    # The prediction is not held against a run that lost events.
    assert not any("predicted" in r for r in report["reasons"])


def test_send_only_report_has_no_verdict_but_names_an_interruption() -> None:
    run = run_record()
    assert build_report(run, PerSecond(), None, None, None)["reasons"] == []
    run.interrupted = True
    run.statuses = {"acknowledged": 30, "refused": 2}
    report = build_report(run, PerSecond(), None, None, None)
    assert report["verdict"] == "NOT VERIFIED" and report["missing"] is None and report["drain_s"] is None
    assert len(report["reasons"]) == 2 and "interrupted" in report["reasons"][0]
    assert report["reasons"][1] == "2 of 32 events were not accepted by the SDK"


def test_prometheus_series_are_those_of_the_runs_consumer_group_only() -> None:
    from floodwall.loadgen.sampler import commit_p99_query, replicas_query

    assert replicas_query("sink") == 'count(up{service="consumer", consumer_group="sink"} == 1)'
    assert 'floodwall_consumer_commit_seconds_bucket{consumer_group="sink"}[15s]' in commit_p99_query("sink")
    assert 'consumer_group="a\\"b"' in replicas_query('a"b')  # a quote cannot end the PromQL string


def test_the_scenario_is_measured_against_its_write_budget(tmp_path: Path) -> None:
    from floodwall.loadgen.report import scenario_figures

    sent = [100, 900, 1000, 1000, 1100, 1000, 200, 0]
    rows = [{"t": s, "sent": n, "acked": 9000 * (s == 7)} for s, n in enumerate(sent)]  # a replay: not a peak
    series = {
        "rows_per_event": [(1.0, 2.0), (2.0, 3.0), (3.0, 2.5), (4.0, 0.0)],
        "rows_per_s": [(1.0, 900.0)],
    }
    direct = {"writers": 4, "events_per_s": 700.0, "commit_p99_s": 0.08}
    got = scenario_figures(rows, series, {"write_budget_rows_per_s": 1000.0, "direct_write": direct})
    # The best 5 s average of events sent is (900 + 1000 + 1000 + 1100 + 1000) / 5 = 1000 events/s;
    # the median of the positive ratios is 2.5 rows/event: 2,500 rows/s at the peak, 2.5x the budget.
    assert got["peak_ingress_events_per_s"] == 1000.0 and got["rows_per_event"] == 2.5
    assert (got["peak_ingress_rows_per_s"], got["peak_over_budget"]) == (2500.0, 2.5)
    assert got["peak_written_rows_per_s"] == 900.0 and got["direct_write"] == direct
    assert "peak_over_budget" not in scenario_figures(rows, {}, {"write_budget_rows_per_s": 1000.0})
    run, db = run_record(), db_report()
    drain = DrainResult(True, 9.0, 0)
    report = build_report(run, PerSecond(), drain, db, judge(findings_of(run, drain, db)), got)
    assert report["scenario"]["peak_over_budget"] == 2.5
    write_chart(report, tmp_path / "report.png")  # every panel's scenario lines drawn without error
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_stalled_drain_is_stopped_after_the_stall_timeout() -> None:
    from floodwall.loadgen.drain import StallWatch

    watch = StallWatch(stall_s=10)
    assert watch(100, now=0.0) is None
    assert watch(100, now=9.9) is None  # no progress yet, but within the bound
    assert watch(60, now=12.0) is None  # progress restarts the clock
    assert watch(60, now=21.9) is None
    assert watch(60, now=22.0) == "nothing was applied for 10 s with 60 events still to apply"
    assert StallWatch(stall_s=1)(0, now=50.0) is None  # drained: never a stall


def test_failed_parts_come_first_among_the_reasons() -> None:
    run, db = run_record(), db_report()
    run.failures = ["sender 0 died without a report (exit code -9; see its log)"]
    verdict = judge(findings_of(run, DrainResult(True, 1.0, 0), db))
    assert not verdict.passed and verdict.reasons[0].startswith("sender 0 died")


def test_a_partial_last_acknowledgement_is_left_out(tmp_path: Path) -> None:
    import uuid

    from floodwall.loadgen.acks import Ack, AckStatus, AckWriter, read_acks

    ack = Ack(uuid.uuid4(), None, "inventory.restock", AckStatus.ACKNOWLEDGED, 1, 0, 3, 42, 1.0, 1.0, 1.1)
    path = tmp_path / "acks-0.bin"
    with AckWriter(path) as writer:
        writer.write(ack)
        writer.write(ack._replace(offset=43))
    path.write_bytes(path.read_bytes()[:-7])  # the sender was killed while writing the second record
    assert [a.offset for a in read_acks([path])] == [42]


def test_a_faults_stall_is_the_longest_run_without_applied_events_after_it() -> None:
    from floodwall.loadgen.report import stall_after

    applied = [5, 5, 5, 0, 0, 5, 0, 0, 0, 0, 5, 5, 0, 5]
    assert stall_after(applied, at_s=3.0, window_s=30) == 4  # seconds 6-9, the longest after the fault
    assert stall_after(applied, at_s=11.0, window_s=30) == 1
    assert stall_after(applied, at_s=3.0, window_s=2) == 2  # only runs that begin within the window
    assert stall_after([5] * 10, at_s=4.0) == 0


def test_the_chaos_plan_falls_inside_the_sale_and_kills_a_broker_only_among_three() -> None:
    from floodwall.loadgen.chaos import chaos_plan

    one = chaos_plan(90, brokers=1, outage_s=15)
    assert [f.kind for f in one] == ["consumer-kill", "patroni-failover", "broker-outage"]
    # The surge holds from 0.2 to 0.55 of the duration; every fault is after it began, in order.
    assert all(90 * 0.2 < f.at_s < 90 for f in one) and [f.at_s for f in one] == sorted(f.at_s for f in one)
    assert "restarted 15 s later" in one[2].what
    assert [f.kind for f in chaos_plan(90, brokers=3, outage_s=15)][-1] == "broker-kill"

"""`floodwall loadgen` end to end on the real stack: a short flash sale verified in PostgreSQL against
what the SDK acknowledged, and the pacing accuracy of a steady 5,000 events/s."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import floodwall
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Fleet, Workload

pytestmark = pytest.mark.integration


def loadgen(
    stack: RunningStack, topics: list[str], group: str, report_dir: Path, *args: str
) -> dict[str, Any]:
    """Run `floodwall loadgen run` against the test stack; return its report.json."""
    result = floodwall(
        "loadgen", "run",
        "--state-dir", str(stack.settings.state_dir),  # endpoints of the test stack, never the default one
        "--orders-topic", topics[0], "--inventory-topic", topics[1], "--group-id", group,
        "--report-dir", str(report_dir), *args,
        timeout=600,
    )  # fmt: skip
    assert (report_dir / "report.json").exists(), result.stdout + result.stderr
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    print(result.stdout[-4000:])
    return report


def test_flash_sale_end_to_end_nothing_lost_nothing_doubled_nothing_oversold(
    stack: RunningStack, tmp_path: Path, record_figure: Callable[[str, str], None]
) -> None:
    layout = Layout(stack.settings)
    workload = Workload(layout, orders=0, restocks=0)  # only for its fresh topic names
    ensure_topics(layout.bootstrap_servers, workload.topics, 12)
    # Consumers register with the test stack's Prometheus (replicas and commit latency series).
    fleet = Fleet(workload, tmp_path, extra_flags=["--state-dir", str(stack.settings.state_dir)])
    fleet.start(2)
    try:
        report = loadgen(
            stack, workload.topics, fleet.group, tmp_path / "report",
            "--profile", "flash-sale", "--rate", "2500", "--duration", "40",
            "--seed", "7", "--namespace", f"it-{uuid.uuid4().hex[:8]}", "--senders", "2",
        )  # fmt: skip
    finally:
        fleet.stop_all()
    assert report["verdict"] == "PASS", report["reasons"]
    assert report["acknowledged"] == report["emitted"] == report["run"]["prediction"]["events"] > 30_000
    assert (report["missing"], report["duplicated"], report["oversold_skus"]) == (0, 0, 0)
    rejected = report["rejected_reservations"]
    assert rejected["count"] > 1000, "hot SKUs must sell out so that oversell protection is exercised"
    assert (
        rejected["explained"] == rejected["count"] == rejected["predicted"] and rejected["unexplained"] == 0
    )
    assert report["unexpected_rejections"] == {}
    applied = sum(t["applied"] + t["rejected"] for t in report["events_per_type"].values())
    assert applied == report["acknowledged"]
    assert report["peak_replicas"] == 2
    assert report["latency_p99_s"] is not None and report["latency_p99_s"] < 30
    assert (tmp_path / "report" / "report.png").stat().st_size > 20_000
    record_figure(
        "loadgen flash-sale 2,500/s peak, 40 s, 2 consumers",
        f"{report['acknowledged']} events, rejected reservations {rejected['count']}, latency p50 "
        f"{report['latency_s']['p50']} s p99 {report['latency_p99_s']} s, drain {report['drain_s']} s, "
        f"peak backlog {report['peak_backlog_events']}, "
        f"worst 10 s rate error {report['rate']['worst_window_error']}",
    )


def test_steady_5000_per_second_is_paced_within_5_percent_per_10_s_window(
    stack: RunningStack, tmp_path: Path, record_figure: Callable[[str, str], None]
) -> None:
    layout = Layout(stack.settings)
    workload = Workload(layout, orders=0, restocks=0)
    ensure_topics(layout.bootstrap_servers, workload.topics, 12)
    report = loadgen(
        stack, workload.topics, "nobody", tmp_path / "report",
        "--profile", "steady", "--rate", "5000", "--duration", "30", "--seed", "5",
        "--namespace", f"rate-{uuid.uuid4().hex[:8]}", "--no-verify",
    )  # fmt: skip
    rate = report["rate"]
    windows = rate["windows_10s"]
    assert len(windows) == 3 and all(w["target"] == 50_000 for w in windows)
    errors = [w["error"] for w in windows]
    assert all(abs(e) <= 0.05 for e in errors), errors
    assert report["acknowledged"] == report["emitted"] == rate["target_events"] + 500  # + initial restocks
    record_figure(
        "loadgen steady 5,000/s, 10 s windows (achieved/target - 1)", ", ".join(f"{e:+.4f}" for e in errors)
    )

"""`floodwall demo --chaos` end to end on the test stack: autoscaler + local fleet + a short flash sale
above the write budget, with a consumer killed, a Patroni failover and a broker outage during it → PASS,
each fault listed with its recovery, the stack whole afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from floodwall.stack.procs import is_running
from floodwall.stack.state import load_state
from tests.helpers import floodwall
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def test_demo_with_chaos_replays_a_flash_sale_and_reports_pass(stack: RunningStack, tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    done = floodwall("demo", "--duration", "30", "--rate", "1500", "--direct-write-s", "2", "--chaos",
                     "--chaos-outage-s", "5", "--scale-down-window-s", "10", "--report-dir", str(report_dir),
                     "--state-dir", str(stack.settings.state_dir), timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASS" in done.stdout and "Traceback" not in done.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert report["verdict"] == "PASS"
    assert report["acknowledged"] > 10_000
    assert (report["missing"], report["duplicated"], report["oversold_skus"]) == (0, 0, 0)
    assert report["acknowledged"] == report["emitted"] == report["run"]["prediction"]["events"]
    rejected = report["rejected_reservations"]
    assert rejected["count"] > 100, "hot SKUs must sell out so that oversell protection is exercised"
    assert (
        rejected["explained"] == rejected["count"] == rejected["predicted"] and rejected["unexplained"] == 0
    )
    assert report["unexpected_rejections"] == {}
    applied = sum(t["applied"] + t["rejected"] for t in report["events_per_type"].values())
    assert applied == report["acknowledged"]
    assert report["peak_replicas"] >= 1 and report["latency_p99_s"] > 0 and report["drain_s"] is not None
    # The story: a peak above the write budget, buffered, drained; replicas up to what the budget feeds
    # (3 at the default cap) and back to one after the drain; direct writes measured on the same database.
    scenario = report["scenario"]
    assert scenario["peak_over_budget"] > 1.0, scenario  # 1,500 events/s of ~3 rows: ~1.2x the budget
    assert scenario["direct_write"]["events"] > 0 and scenario["direct_write"]["commit_p99_s"] > 0
    replicas = [value for _, value in report["series"]["replicas"]]
    assert max(replicas) == 3 and replicas[-1] == 1, replicas
    faults = {f["kind"]: f for f in scenario["faults"]}
    assert set(faults) == {"consumer-kill", "patroni-failover", "broker-outage"}, scenario["faults"]
    assert all(f["recovered_after_s"] is not None for f in faults.values()), scenario["faults"]
    assert all(f"fault at {f['at_s']:.0f} s, {kind}" in done.stdout for kind, f in faults.items())
    assert (report_dir / "report.png").stat().st_size > 10_000
    assert (report_dir / "trace.fwt").exists()
    state = load_state(stack.settings.state_dir)
    assert state is not None and all(is_running(r) for r in state.processes.values()), "stack left up"
    stack.state = state  # the chaos restarted parts: the next tests must see their new processes
    consumers = list((report_dir / "consumers").glob("consumer-*.log"))
    stopped = [p for p in consumers if "leaving" in p.read_text() or "SIGTERM" in p.read_text()]
    assert len(stopped) >= len(consumers) - 1, "every consumer but the one killed by the chaos left cleanly"

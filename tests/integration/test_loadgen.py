"""`floodwall loadgen` on the real stack: a steady 5,000 events/s follows its schedule, every event
acknowledged, and the report gives the pacing error per 10 s window. (A flash sale
verified in PostgreSQL against what the SDK acknowledged is tests/integration/test_demo.py's, through
the same runner; a two-sender run is test_loadgen_watchdogs.py's.)"""

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
from tests.integration.fleet import Workload

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


def test_steady_5000_per_second_follows_its_schedule_and_reports_the_pacing_error(
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
    # A pacer that follows the schedule at all: not a burst, not a stall. How close it comes (the 5 %
    # goal) depends on the machine, so it is a benchmark figure (docs/loadgen.md), not a timed assertion;
    # on this 2-core machine it measured within 0.01 % in November and -5 to -22 % on 3 Dec, same code.
    assert all(abs(e) <= 0.5 for e in errors), errors
    assert report["acknowledged"] == report["emitted"] == rate["target_events"] + 500  # + initial restocks
    record_figure(
        "loadgen steady 5,000/s, 10 s windows (achieved/target - 1)", ", ".join(f"{e:+.4f}" for e in errors)
    )

"""A run never hangs: a sender killed mid-run, or a sink that stops applying, ends `floodwall loadgen run`
with a FAIL verdict naming the part, the report written (real stack, real processes, real signals)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import clean_env
from tests.integration.conftest import RunningStack
from tests.integration.fleet import Fleet, Workload

pytestmark = pytest.mark.integration


def start_loadgen(
    stack: RunningStack, workload: Workload, group: str, report_dir: Path, *args: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "floodwall", "loadgen", "run",
         "--state-dir", str(stack.settings.state_dir),
         "--orders-topic", workload.topics[0], "--inventory-topic", workload.topics[1], "--group-id", group,
         "--report-dir", str(report_dir), "--profile", "steady", "--rate", "400",
         "--namespace", f"wd-{uuid.uuid4().hex[:8]}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env(),
        start_new_session=True,  # its own process group: the clean-up ends its senders too
    )  # fmt: skip


def kill_group(proc: subprocess.Popen[str]) -> None:
    """The run and its sender processes (a killed parent would leave them sending)."""
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    """Read the run's output up to the first line starting with ``prefix`` (its plain progress lines
    come every 10 s when the output is not a terminal)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.startswith(prefix):
            return line
        assert time.monotonic() < deadline, f"no {prefix!r} line within {timeout_s} s"
    raise AssertionError(f"the run ended before printing {prefix!r}")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc: no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def sender_pid(loadgen_pid: int) -> int | None:
    for child in children(loadgen_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            return child
    return None


def finished(proc: subprocess.Popen[str], report_dir: Path, timeout_s: float) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    assert (report_dir / "report.png").exists()
    return report


@pytest.fixture
def fleet(stack: RunningStack, tmp_path: Path) -> Fleet:
    layout = Layout(stack.settings)
    workload = Workload(layout, orders=0, restocks=0)  # only for its fresh topic names
    ensure_topics(layout.bootstrap_servers, workload.topics, 6)
    return Fleet(workload, tmp_path, extra_flags=["--state-dir", str(stack.settings.state_dir)])


def test_a_sender_killed_mid_run_fails_the_run_with_its_name(
    stack: RunningStack, fleet: Fleet, tmp_path: Path
) -> None:
    fleet.start(1)
    report_dir = tmp_path / "report"
    proc = start_loadgen(stack, fleet.workload, fleet.group, report_dir, "--duration", "20", "--senders", "1")
    try:
        seen = wait_for_line(proc, "sending:", 120)  # the first progress line: events acknowledged
        acknowledged = re.search(r"([\d,]+) acknowledged", seen)
        assert acknowledged and int(acknowledged.group(1).replace(",", "")) > 0, seen
        victim = sender_pid(proc.pid)
        assert victim is not None, "no sender process found"
        os.kill(victim, signal.SIGKILL)
        report = finished(proc, report_dir, 300)
    finally:
        kill_group(proc)
        fleet.stop_all()
    assert report["verdict"] == "FAIL"
    assert any(r.startswith("sender 0 died without a report") for r in report["reasons"]), report["reasons"]


def test_a_sink_that_stops_applying_ends_the_drain_at_the_stall_timeout(
    stack: RunningStack, fleet: Fleet, tmp_path: Path
) -> None:
    fleet.start(1)
    report_dir = tmp_path / "report"
    consumer = fleet.members[0]
    # Wedged, not dead: the process holds its partitions, answers nothing, applies nothing.
    consumer.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    proc = start_loadgen(
        stack, fleet.workload, fleet.group, report_dir, "--duration", "5", "--stall-timeout-s", "10",
        "--senders", "2",  # two senders sharing the trace by key: every event accepted all the same
    )  # fmt: skip
    try:
        report = finished(proc, report_dir, 300)
    finally:
        kill_group(proc)
        consumer.send_signal(signal.SIGCONT)
        fleet.stop_all()
    # Sending 5 s (+ set-up), then 10 s without progress: far inside the 300 s drain timeout.
    assert time.monotonic() - started < 120
    assert report["verdict"] == "FAIL"
    assert any(r.startswith("nothing was applied for 10 s") for r in report["reasons"]), report["reasons"]
    assert report["rate"]["senders"] == 2 and report["acknowledged"] == report["emitted"] > 1000

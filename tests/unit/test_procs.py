"""Process supervision: identity by PID + start time, zombies count as gone, stop escalates."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from floodwall.errors import StackError
from floodwall.stack.procs import is_running, record_for_pid, spawn, stop, tail, wait_gone


def test_spawn_logs_and_stop(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    rec = spawn([sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"], log)
    try:
        assert is_running(rec)
        assert rec.start_ticks > 0
    finally:
        assert stop(rec, timeout_s=10)
    assert not is_running(rec)
    assert any("hello" in line for line in tail(log))
    assert not stop(rec)  # stopping twice reports "was not running"


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    rec = spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "x.log")
    try:
        impostor = replace(rec, start_ticks=rec.start_ticks + 1)
        assert not is_running(impostor)
        assert not stop(impostor)  # must not signal a process that is not ours
        assert is_running(rec)
    finally:
        stop(rec)


def test_sigterm_ignoring_process_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    rec = spawn([sys.executable, "-c", code], log)
    deadline = time.monotonic() + 10
    while not any("ready" in line for line in tail(log)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stop(rec, signal.SIGTERM, timeout_s=0.5)
    assert not is_running(rec)


def test_exited_child_counts_as_gone(tmp_path: Path) -> None:
    rec = spawn([sys.executable, "-c", "pass"], tmp_path / "quick.log")
    assert wait_gone(rec, 10)
    assert record_for_pid(rec.pid) is None


def test_missing_executable_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="cannot start /nonexistent/daemon"):
        spawn(["/nonexistent/daemon"], tmp_path / "none.log")

"""The local actuator with real processes (a stand-in command that behaves like a consumer on SIGTERM)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from floodwall.autoscaler.actuators import ActuationError
from floodwall.autoscaler.actuators.local import LocalFleet

GRACEFUL = [sys.executable, "-c", "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: (print('leaving the group', flush=True),\n"
            "              sys.exit(0)))\n"
            "print('consuming', flush=True)\nwhile True: time.sleep(0.1)"]  # fmt: skip
STUBBORN = [sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('consuming', flush=True)\nwhile True: time.sleep(0.1)"]  # fmt: skip


def wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_scale_up_down_stops_the_newest_gracefully(tmp_path: Path) -> None:
    fleet = LocalFleet(GRACEFUL, tmp_path)
    try:
        fleet.scale(3)
        assert fleet.current() == 3
        wait_for(lambda: sum("consuming" in p.read_text() for p in tmp_path.glob("*.log")) == 3)
        oldest = fleet.pids()[0]
        fleet.scale(1)
        assert fleet.current() == 1 and fleet.pids() == [oldest]
        wait_for(lambda: sum("leaving the group" in p.read_text() for p in tmp_path.glob("*.log")) == 2)
    finally:
        fleet.close()
    assert fleet.current() == 0
    assert sum("leaving the group" in p.read_text() for p in tmp_path.glob("*.log")) == 3


def test_a_dead_consumer_stops_counting_and_is_replaced_by_the_next_scale(tmp_path: Path) -> None:
    import os
    import signal

    fleet = LocalFleet(GRACEFUL, tmp_path)
    try:
        fleet.scale(2)
        os.kill(fleet.pids()[0], signal.SIGKILL)
        wait_for(lambda: fleet.current() == 1)
        fleet.scale(2)
        assert fleet.current() == 2
    finally:
        fleet.close()


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    fleet = LocalFleet(STUBBORN, tmp_path, stop_grace_s=1.0)
    fleet.scale(1)
    wait_for(lambda: "consuming" in (tmp_path / "consumer-1.log").read_text())
    started = time.monotonic()
    fleet.close()
    assert time.monotonic() - started < 10
    assert fleet.current() == 0


def test_bad_counts_and_commands_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ActuationError, match="cannot run -1"):
        LocalFleet(GRACEFUL, tmp_path).scale(-1)
    with pytest.raises(ActuationError, match="cannot start /nonexistent"):
        LocalFleet(["/nonexistent/floodwall"], tmp_path).scale(1)


def test_the_fleet_does_not_outlive_a_killed_autoscaler(tmp_path: Path) -> None:
    import signal
    import subprocess

    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from autoscaler.actuators.local import LocalFleet\n"
         f"fleet = LocalFleet({GRACEFUL!r}, Path({str(tmp_path)!r}))\nfleet.scale(2)\n"
         "print(*fleet.pids(), flush=True)\ntime.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    wait_for(lambda: sum("consuming" in p.read_text() for p in tmp_path.glob("*.log")) == 2)
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def gone(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"

    wait_for(lambda: all(gone(pid) for pid in pids))
    assert sum("leaving the group" in p.read_text() for p in tmp_path.glob("*.log")) == 2

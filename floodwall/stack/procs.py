"""Start, recognise and stop the stack's background processes.

Processes are started in their own session (so a Ctrl-C in the terminal does not reach them) with a
clean environment, umask 077 (their data, configs and logs are readable by their owner only) and their
output appended to a 0600 log file. A process is identified by its PID *and*
its start time from ``/proc/PID/stat``, so a recycled PID is never mistaken for ours; a zombie counts
as gone (PID 1 on these machines reaps slowly, so ``kill -0`` alone would lie).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from floodwall.errors import StackError
from floodwall.privatefs import CHILD_UMASK, append_private

# Children we started in this Python process; polling them reaps zombies we would otherwise leave.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """What the state file remembers of one started process."""

    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str

    @property
    def log_path(self) -> Path:
        return Path(self.log)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(int(data["pid"]), int(data["start_ticks"]), tuple(data["argv"]), str(data["log"]))


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of ``pid``, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    """True when the recorded process still exists, is not a zombie and is the same process."""
    child = _CHILDREN.get(record.pid)
    if child is not None:
        child.poll()
    stat = _proc_stat(record.pid)
    return stat is not None and stat[0] != "Z" and stat[1] == record.start_ticks


def record_for_pid(pid: int, log: str = "") -> ProcessRecord | None:
    """A record for a live process we did not start (e.g. a postmaster), or None when it is gone."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] == "Z":
        return None
    return ProcessRecord(pid, stat[1], (), log)


def clean_env(home: str) -> dict[str, str]:
    """A minimal environment: stray PG*/FLOODWALL_* variables must not leak into the daemons."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home}


def spawn(argv: list[str], log: Path, run_as: str | None = None, cwd: Path | None = None) -> ProcessRecord:
    """Start ``argv`` detached, appending its output to ``log``; return its record.

    ``run_as`` names the OS user to run as (only meaningful when we are root). Raises StackError when the
    executable cannot be started.
    """
    user = pwd.getpwnam(run_as) if run_as else None
    env = clean_env(user.pw_dir if user else os.environ.get("HOME", "/"))
    with append_private(log) as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
                umask=CHILD_UMASK,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
            )
        except OSError as exc:
            raise StackError(f"cannot start {argv[0]}: {exc.strerror}") from None
    _CHILDREN[child.pid] = child
    stat = _proc_stat(child.pid)
    return ProcessRecord(child.pid, stat[1] if stat else 0, tuple(argv), str(log))


def stop(record: ProcessRecord, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> bool:
    """Signal the process and wait for it to exit; SIGKILL it after ``timeout_s``.

    Returns True when it was running (and is now gone).
    """
    if not is_running(record):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, sig)
    if wait_gone(record, timeout_s):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    wait_gone(record, 5.0)
    return True


def stop_together(
    records: list[ProcessRecord], sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0
) -> list[ProcessRecord]:
    """Signal every process at once, then wait for all; SIGKILL the ones still there after ``timeout_s``.

    For peers that need each other to shut down cleanly: the last of three KRaft nodes stopped one by one
    waits for a controller quorum that is already gone. Returns the records that were running.
    """
    running = [r for r in records if is_running(r)]
    for record in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)
    deadline = time.monotonic() + timeout_s
    for record in running:
        if not wait_gone(record, max(0.0, deadline - time.monotonic())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            wait_gone(record, 5.0)
    return running


def wait_gone(record: ProcessRecord, timeout_s: float) -> bool:
    """Wait until the process has exited; True if it did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while is_running(record):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def tail(path: Path, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of a text file (empty when missing)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return data.splitlines()[-lines:]

"""The local actuator: a fleet of ``floodwall consume`` processes on this machine.

Scale up starts processes; scale down sends SIGTERM to the newest ones (the consumer finishes its batch
and leaves the group) and does not wait for them: a stopping process no longer counts as a replica, and
one that has not exited after ``stop_grace_s`` is killed (``kill -9`` is safe for the sink, only slower
to rebalance). Each process logs to its own file in ``log_dir``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from floodwall.autoscaler.actuators import ActuationError
from floodwall.privatefs import CHILD_UMASK, append_private

log = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1
# Resolved once, here: between fork and exec the child only calls it (no imports, no allocations that
# could wait on a lock another thread of the parent held at fork time).
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _terminate_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when the autoscaler dies, even by ``kill -9``, so no
    orphaned consumer outlives the fleet that counted it (a restarted autoscaler would not see it).
    Linux sends it when the *thread* that started the child ends: scale from the thread that runs the
    loop, as :class:`autoscaler.daemon.Autoscaler` does (it also closes the fleet from that thread)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Stopping:
    proc: subprocess.Popen[bytes]
    since: float


@dataclass
class LocalFleet:
    """Runs ``command`` (the argv of one consumer) ``replicas`` times."""

    command: Sequence[str]
    log_dir: Path
    env: dict[str, str] | None = None
    stop_grace_s: float = 30.0
    _running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stopping: list[_Stopping] = field(default_factory=list)
    _started: int = 0

    def current(self) -> int:
        self._reap()
        return len(self._running)

    def scale(self, replicas: int) -> None:
        if replicas < 0:
            raise ActuationError(f"cannot run {replicas} replicas")
        self._reap()
        while len(self._running) < replicas:
            self._start_one()
        while len(self._running) > replicas:
            proc = self._running.pop()  # newest first: the oldest members keep their partitions longest
            proc.send_signal(signal.SIGTERM)
            self._stopping.append(_Stopping(proc, time.monotonic()))
            log.info("consumer pid %d: SIGTERM (scale down to %d)", proc.pid, replicas)

    def close(self) -> None:
        """Stop every process gracefully; wait up to ``stop_grace_s`` for each, then kill."""
        self.scale(0)
        deadline = time.monotonic() + self.stop_grace_s
        for entry in self._stopping:
            try:
                entry.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                entry.proc.kill()
                entry.proc.wait()
        self._stopping.clear()

    def pids(self) -> list[int]:
        return [p.pid for p in self._running]

    def _start_one(self) -> None:
        self._started += 1
        path = self.log_dir / f"consumer-{self._started}.log"
        try:
            with append_private(path) as out:  # 0600; the child keeps its own descriptor
                proc = subprocess.Popen(
                    list(self.command),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env if self.env is not None else dict(os.environ),
                    start_new_session=True,  # a Ctrl-C meant for the autoscaler is not sent to the fleet
                    umask=CHILD_UMASK,
                    preexec_fn=_terminate_with_parent,
                )
        except OSError as exc:
            raise ActuationError(f"cannot start {self.command[0]}: {exc}") from exc
        self._running.append(proc)
        log.info("consumer pid %d started (log %s)", proc.pid, path)

    def _reap(self) -> None:
        """Forget exited processes: a dead consumer is no longer a replica (the next tick replaces it)."""
        for proc in [p for p in self._running if p.poll() is not None]:
            log.warning("consumer pid %d exited with status %s", proc.pid, proc.returncode)
            self._running.remove(proc)
        now = time.monotonic()
        for entry in list(self._stopping):
            if entry.proc.poll() is not None:
                self._stopping.remove(entry)
            elif now - entry.since > self.stop_grace_s:
                log.warning(
                    "consumer pid %d ignored SIGTERM for %.0f s; killing it",
                    entry.proc.pid,
                    now - entry.since,
                )
                entry.proc.kill()

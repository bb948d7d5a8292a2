"""``floodwall stack down``: stop exactly the stack's own processes, in dependency order."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from floodwall.stack import probes
from floodwall.stack.layout import Layout, PgNode
from floodwall.stack.procs import record_for_pid, stop, stop_together
from floodwall.stack.state import StackState

Say = Callable[[str], None]


def stop_steps(state: StackState) -> list[list[str]]:
    """The parts to stop, in steps: each step's parts are stopped together, the steps one after another.

    HAProxy and Prometheus first, then the Kafka brokers all at once (one KRaft node left alone waits for
    a controller quorum that is gone), then the replicas' Patroni, the leader's Patroni, and etcd last.
    Stopping the leader after its replicas avoids a needless failover; etcd must outlive every Patroni so
    the leader can release its key.
    """
    names = list(state.processes)
    leader = _leader_part(state.layout)
    brokers = sorted(n for n in names if n.startswith("broker-"))
    patroni = [n for n in names if n.startswith("patroni-")]
    patroni.sort(key=lambda n: n == leader)  # False (replicas) before True (leader)
    front: list[str] = [n for n in ("prometheus", "haproxy") if n in names]
    rest = [n for n in names if n not in front + brokers + patroni]
    return [[n] for n in front] + ([brokers] if brokers else []) + [[n] for n in patroni + rest]


def stack_down(state: StackState, purge: bool = False, say: Say = print) -> list[str]:
    """Stop the recorded processes (by PID + start time) and any postmaster a killed Patroni left behind.

    Keeps all data unless ``purge``. Returns the names of the processes that were running.
    """
    stopped = []
    for step in stop_steps(state):
        records = {state.processes[name]: name for name in step}
        for record in stop_together(list(records), signal.SIGTERM, timeout_s=60.0):
            stopped.append(records[record])
            say(f"  {records[record]:<13} stopped (pid {record.pid})")
        for name in step:
            if name.startswith("patroni-"):
                _stop_orphan_postmaster(_node(state.layout, name), say)
    state.processes.clear()
    state.save()
    if purge:
        shutil.rmtree(state.layout.root)
        say(f"  purged {state.layout.root}")
    return stopped


def _node(layout: Layout, part: str) -> PgNode:
    return next(n for n in layout.nodes if n.part == part)


def _leader_part(layout: Layout) -> str | None:
    try:
        members = probes.patroni_members(layout)
    except probes.ProbeFailed:
        return None
    leader = next((m.name for m in members if m.is_leader), None)
    return f"patroni-{leader}" if leader else None


def _stop_orphan_postmaster(node: PgNode, say: Say) -> None:
    """A ``kill -9``'d Patroni leaves PostgreSQL running; stop it with a fast shutdown (SIGINT)."""
    pid = postmaster_pid(node.data_dir)
    record = record_for_pid(pid) if pid else None
    if record is None or _comm(record.pid) not in {"postgres", "postmaster"}:
        return
    if stop(record, signal.SIGINT, timeout_s=60.0):
        say(f"  postgres {node.name:<4} stopped (orphan postmaster pid {pid})")


def postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster's pid from ``data_dir/postmaster.pid``; None when there is none (or it is torn)."""
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, ValueError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""

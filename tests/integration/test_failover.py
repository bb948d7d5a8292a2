"""Patroni failover under a writer that writes through the HAProxy write port every 20 ms.

Case 1: kill -9 the primary's postmaster (Patroni restarts it in place).
Case 2: kill -9 the whole primary node, Patroni and postmaster (a replica is promoted).
In both, writes resume and no acknowledged write is lost (synchronous_mode); the measured
write-unavailability window is printed and held to a generous bound (these machines are noisy).
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import pytest

from floodwall.stack import probes
from floodwall.stack.layout import Layout, PgNode
from floodwall.stack.up import stack_up
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration

INTERVAL_S = 0.020
POSTMASTER_ONLY_BOUND_S = 30.0  # measured 3-5 s here
WHOLE_NODE_BOUND_S = 60.0  # measured ~10 s here (ttl 10)


@dataclass(eq=False)  # identity semantics: a Thread must stay hashable
class Writer(threading.Thread):
    """Inserts seq = 1, 2, … every 20 ms; remembers which inserts were acknowledged and when."""

    dsn: str
    acked: list[int] = field(default_factory=list)
    ok_times: list[float] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        seq = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            seq += 1
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                conn.execute("INSERT INTO failover_probe (seq) VALUES (%s)", (seq,))
                self.acked.append(seq)
                self.ok_times.append(time.monotonic())
            except psycopg.Error as exc:
                self.errors += 1
                self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            next_at += INTERVAL_S
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - INTERVAL_S)
        if conn is not None:
            conn.close()

    def longest_gap_after(self, t0: float) -> float:
        """Longest time between two consecutive acknowledged writes around/after ``t0``."""
        times = [t for t in self.ok_times if t >= t0]
        before = [t for t in self.ok_times if t < t0]
        if before:
            times.insert(0, before[-1])
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def leader(layout: Layout) -> PgNode:
    members = probes.patroni_members(layout)
    name = next(m.name for m in members if m.is_leader)
    return next(n for n in layout.nodes if n.name == name)


def postmaster_pid(node: PgNode) -> int:
    return int((node.data_dir / "postmaster.pid").read_text().splitlines()[0])


def wait_until(check: Callable[[], bool], timeout_s: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what()}")
        time.sleep(0.1)


def describe(layout: Layout, writer: Writer) -> str:
    try:
        members = [(m.name, m.role, m.state) for m in probes.patroni_members(layout)]
    except probes.ProbeFailed as exc:
        members = [("?", str(exc), "")]
    backends = probes.haproxy_backends(layout).get("pg_write")
    return f"writes to resume; last error: {writer.last_error!r}; members {members}; haproxy {backends}"


def run_fault(
    stack: RunningStack, fault: Callable[[PgNode], None], bound_s: float
) -> tuple[float, PgNode, Writer]:
    layout = Layout(stack.settings)
    # The owner creates the table; the writer is the runtime role (the owner's default privileges).
    with psycopg.connect(layout.owner_dsn()) as conn:
        conn.execute("DROP TABLE IF EXISTS failover_probe")
        conn.execute("CREATE TABLE failover_probe (seq bigint PRIMARY KEY, at timestamptz DEFAULT now())")
    writer = Writer(layout.write_dsn())
    writer.start()
    try:
        wait_until(lambda: len(writer.acked) >= 50, 30, lambda: f"the writer to start ({writer.last_error})")
        old_leader = leader(layout)
        t_fault = time.monotonic()
        fault(old_leader)
        wait_until(
            lambda: writer.errors > 0 or time.monotonic() - t_fault > 5, 10, lambda: "the fault to bite"
        )
        wait_until(
            lambda: bool(writer.ok_times) and writer.ok_times[-1] > t_fault + 0.5 and writer.errors > 0,
            bound_s + 30,
            lambda: describe(layout, writer),
        )
        time.sleep(1.0)  # a second of steady writes after recovery
    finally:
        writer.stopping.set()
        writer.join(timeout=30)
    window = writer.longest_gap_after(t_fault)
    with psycopg.connect(layout.owner_dsn()) as conn:
        stored = {int(r[0]) for r in conn.execute("SELECT seq FROM failover_probe").fetchall()}
        conn.execute("DROP TABLE failover_probe")
    lost = sorted(set(writer.acked) - stored)
    assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:20]}"
    assert window < bound_s, f"writes were unavailable for {window:.1f} s"
    return window, old_leader, writer


def heal(stack: RunningStack) -> None:
    """Restart whatever the fault killed and wait until the cluster is whole again (idempotent `up`)."""
    stack.state = stack_up(stack.settings, say=lambda _: None)


def test_kill_primary_postmaster(stack: RunningStack, record_figure: Callable[[str, str], None]) -> None:
    window, _old_leader, writer = run_fault(
        stack, lambda node: os.kill(postmaster_pid(node), signal.SIGKILL), POSTMASTER_ONLY_BOUND_S
    )
    record_figure(
        "failover kill -9 postmaster: writes unavailable",
        f"{window:.2f} s ({len(writer.acked)} acknowledged, {writer.errors} failed attempts, 0 lost)",
    )
    heal(stack)


def test_kill_whole_primary_node(stack: RunningStack, record_figure: Callable[[str, str], None]) -> None:
    def kill_node(node: PgNode) -> None:
        pm = postmaster_pid(node)
        os.kill(stack.state.processes[node.part].pid, signal.SIGKILL)
        os.kill(pm, signal.SIGKILL)

    window, old_leader, writer = run_fault(stack, kill_node, WHOLE_NODE_BOUND_S)
    new_leader = leader(Layout(stack.settings))
    assert new_leader.name != old_leader.name, "a replica should have been promoted"
    record_figure(
        "failover kill -9 Patroni+postmaster: writes unavailable",
        f"{window:.2f} s (new leader {new_leader.name}; {len(writer.acked)} acknowledged, 0 lost)",
    )
    heal(stack)
    members = probes.patroni_members(Layout(stack.settings))
    assert len(members) == 3 and sum(m.is_leader for m in members) == 1

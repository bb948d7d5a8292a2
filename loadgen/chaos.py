"""``floodwall demo --chaos``: faults injected into the local stack at announced moments of the sale.

The plan (:func:`chaos_plan`, pure) puts the faults inside the sale, a few seconds apart:

1. ``consumer-kill`` — ``kill -9`` of the oldest consumer: its partitions move after the session
   timeout, the autoscaler replaces it at its next tick;
2. ``patroni-failover`` — ``kill -9`` of the primary's Patroni *and* postmaster: a replica is promoted,
   HAProxy follows it; the sink retries its batch;
3. ``broker-outage`` — every broker killed for ``outage_s``, longer than the SDK's delivery timeout, so
   unacknowledged events move to its spool and are replayed when the brokers are back;
4. ``broker-kill`` (3 brokers only) — ``kill -9`` of one broker: the others lead its partitions.

Each fault is recorded with the moment it happened and how long until the part was back (the consumer
count restored, the write port accepting writes, the brokers answering); the killed parts are brought
back with ``stack up`` so the next run finds the stack whole. The stall each fault caused in the applied
rate is read from PostgreSQL afterwards (loadgen/report.py).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from floodwall.redact import error_line
from floodwall.stack.config import StackSettings
from floodwall.stack.down import postmaster_pid
from floodwall.stack.layout import Layout
from floodwall.stack.probes import ProbeFailed, broker_serves, patroni_members, write_port_accepts_write
from floodwall.stack.procs import is_running
from floodwall.stack.state import StackState, load_state
from floodwall.stack.up import stack_up

log = logging.getLogger(__name__)

RECOVERY_TIMEOUT_S = 90.0  # a part not back within this is recorded as not recovered
DELIVERY_TIMEOUT_S = 5.0  # the SDK's delivery timeout under chaos: a longer outage spools


@dataclass(frozen=True)
class PlannedFault:
    at_s: float  # seconds since the profile's t = 0
    kind: str
    what: str  # announced before the sale


def chaos_plan(duration_s: float, brokers: int, outage_s: float) -> list[PlannedFault]:
    """The faults of a flash sale of ``duration_s`` (its surge holds from 0.2 to 0.55 of it): inside the
    surge and its decay, far enough apart that each recovery is seen on its own."""
    plan = [
        PlannedFault(round(duration_s * 0.30), "consumer-kill", "kill -9 of a consumer"),
        PlannedFault(
            round(duration_s * 0.42), "patroni-failover", "kill -9 of the primary's Patroni and postmaster"
        ),
        PlannedFault(
            round(duration_s * 0.55), "broker-outage",
            f"every broker killed, restarted {outage_s:.0f} s later (the SDK spools after "
            f"{DELIVERY_TIMEOUT_S:.0f} s)",
        ),
    ]  # fmt: skip
    if brokers >= 3:
        plan.append(PlannedFault(round(duration_s * 0.85), "broker-kill", "kill -9 of one of 3 brokers"))
    return plan


@dataclass
class Chaos:
    """Runs a plan in a thread from t = 0; ``faults`` fills in as they happen (JSON-ready dicts)."""

    stack: StackSettings
    plan: list[PlannedFault]
    consumer_pids: Callable[[], list[int]]
    outage_s: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # `stack up` from here must not run twice at once
        self._consumers_before: set[int] = set()

    def start(self, start_at: float) -> None:
        """Begin at wall-clock ``start_at`` (the profile's t = 0)."""
        self._thread = threading.Thread(target=self._run, args=(start_at,), name="chaos", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=RECOVERY_TIMEOUT_S + 60)
        self._heal()  # whatever happens, leave the stack whole for the next run

    def _run(self, start_at: float) -> None:
        for fault in self.plan:
            if self._stopping.wait(max(0.0, start_at + fault.at_s - time.time())):
                return
            at = time.time() - start_at
            try:
                detail, recovered = self._inject(fault)
            except Exception as exc:  # a fault that could not be injected fails the demo, never hangs it
                self.errors.append(
                    f"chaos: {fault.kind} at {at:.0f} s could not be injected: {error_line(exc)}"
                )
                log.exception("chaos: %s failed", fault.kind)
                continue
            if recovered is None and not self._stopping.is_set():
                late = f"chaos: the {fault.kind} at {at:.0f} s: not back within {RECOVERY_TIMEOUT_S:.0f} s"
                self.errors.append(late)
            self.faults.append({
                "at_s": round(at, 1), "kind": fault.kind, "what": fault.what, "detail": detail,
                "recovered_after_s": None if recovered is None else round(recovered, 1),
            })  # fmt: skip
            log.info("chaos: %s at %.1f s: %s; back after %s s", fault.kind, at, detail, recovered)

    def _inject(self, fault: PlannedFault) -> tuple[str, float | None]:
        started = time.monotonic()
        if fault.kind == "consumer-kill":
            victim, detail = self._kill_consumer()
            back = self._wait(lambda: self._replaced(victim))
        elif fault.kind == "patroni-failover":
            detail = self._kill_primary()
            back = self._wait(self._writable)  # the old primary is restarted with the brokers, or at stop
        elif fault.kind == "broker-outage":
            killed, detail = self._kill_brokers(all_of_them=True)
            self._stopping.wait(self.outage_s)
            back = self._healing(lambda: self._brokers_back(killed))
        else:
            killed, detail = self._kill_brokers(all_of_them=False)
            back = self._healing(lambda: self._brokers_back(killed))
        return detail, None if back is None else back - started

    def _healing(self, condition: Callable[[], bool]) -> float | None:
        """``stack up`` in the background (it also waits for parts the fault did not touch), and the time
        ``condition`` — the fault's own part back — first held."""
        heal = threading.Thread(target=self._heal, name="chaos-heal", daemon=True)
        heal.start()
        back = self._wait(condition)
        heal.join(timeout=RECOVERY_TIMEOUT_S)
        return back

    # ---- the faults -------------------------------------------------------------------------------

    @property
    def _layout(self) -> Layout:
        """The running stack's own layout (its recorded ports, which a test stack chooses itself)."""
        return self._state().layout

    def _kill_consumer(self) -> tuple[int, str]:
        pids = self.consumer_pids()
        if not pids:
            raise RuntimeError("no consumer is running")
        self._consumers_before = set(pids)
        os.kill(pids[0], signal.SIGKILL)
        return pids[0], f"consumer pid {pids[0]} killed ({len(pids)} running)"

    def _replaced(self, victim: int) -> bool:
        """The killed consumer is gone from the fleet and another was started in its place (or as many
        run as before: the autoscaler may have scaled meanwhile)."""
        pids = self.consumer_pids()
        started = set(pids) - self._consumers_before
        return victim not in pids and (bool(started) or len(pids) >= len(self._consumers_before))

    def _kill_primary(self) -> str:
        state = self._state()
        leader = next(m for m in patroni_members(self._layout) if m.is_leader)
        node = next(n for n in self._layout.nodes if n.name == leader.name)
        postmaster = postmaster_pid(node.data_dir)
        if postmaster is None:
            raise RuntimeError(f"primary {node.name} has no postmaster.pid")
        os.kill(state.processes[node.part].pid, signal.SIGKILL)
        os.kill(postmaster, signal.SIGKILL)
        return f"primary {node.name}: Patroni and postmaster (pid {postmaster}) killed"

    def _kill_brokers(self, all_of_them: bool) -> tuple[dict[str, int], str]:
        """Kill -9 every running broker, or the last one; returns {part: pid killed} and a line."""
        state = self._state()
        running = [b for b in self._layout.brokers if is_running(state.processes[b.part])]
        if not running:
            raise RuntimeError("no broker is running")
        victims = {b.part: state.processes[b.part].pid for b in (running if all_of_them else running[-1:])}
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        return victims, f"{', '.join(victims)} killed"

    # ---- probes and healing -----------------------------------------------------------------------

    def _state(self) -> StackState:
        state = load_state(self.stack.state_dir)
        if state is None:
            raise RuntimeError(f"no stack in {self.stack.state_dir}")
        return state

    def _writable(self) -> bool:
        try:
            write_port_accepts_write(self._layout)
        except ProbeFailed:
            return False
        return True

    def _brokers_back(self, killed: dict[str, int]) -> bool:
        """Every killed broker runs again as a new process, answers on its own port, and the cluster lists
        all the brokers (stack.probes.broker_serves)."""
        processes = self._state().processes
        restarted = all(
            processes[part].pid != pid and is_running(processes[part]) for part, pid in killed.items()
        )
        if not restarted:
            return False
        try:
            for node in self._layout.brokers:
                if node.part in killed:
                    broker_serves(self._layout, node)
        except Exception:  # ProbeFailed (or a KafkaException) while they start
            return False
        return True

    def _wait(self, condition: Callable[[], bool]) -> float | None:
        """The monotonic time ``condition`` first held, or None after RECOVERY_TIMEOUT_S."""
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline and not self._stopping.is_set():
            if condition():
                return time.monotonic()
            time.sleep(0.25)
        return None

    def _heal(self) -> None:
        with self._lock:
            try:
                stack_up(self._state().settings, say=lambda _: None)  # as recorded: a test stack's own ports
            except Exception as exc:
                self.errors.append(f"chaos: the stack could not be brought back: {error_line(exc)}")

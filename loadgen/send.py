"""Send a trace through the SDK with one or more sender processes sharing one start time."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from floodwall.errors import FloodwallError
from floodwall.loadgen.pacer import PerSecond
from floodwall.loadgen.sender import SenderResult, SenderSpec, SenderSync, sender_main
from floodwall.loadgen.trace import Trace
from floodwall.privatefs import make_private_dir
from floodwall.producers.config import ProducerSettings

# The initial restocks are due 1 s before t = 0; leave a little room for the senders to get going.
LEAD_IN_S = 1.5
READY_TIMEOUT_S = 120.0
DEAD_GRACE_S = 5.0  # a sender that exited gets this long for its report to come through the queue
_TICK_S = 0.25


@dataclass(frozen=True)
class Tick:
    """Progress while sending: events handed to the SDK and acknowledged so far, across senders."""

    elapsed_s: float  # since t = 0 (negative during the lead-in)
    sent: int
    acked: int


@dataclass
class SendOutcome:
    start_at: float  # wall-clock time of the profile's t = 0
    finished_at: float  # wall-clock time the last sender finished (every event acknowledged or given up)
    senders: int
    results: list[SenderResult]
    ack_paths: list[Path]
    target_per_s: list[int] = field(default_factory=list)
    sent_per_s: list[int] = field(default_factory=list)
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)  # senders that failed, died or wedged

    @property
    def statuses(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for result in self.results:
            for name, n in result.statuses.items():
                total[name] = total.get(name, 0) + n
        return total


def send_trace(
    trace: Trace,
    producer: ProducerSettings,
    run_dir: Path,
    senders: int,
    flush_timeout_s: float,
    tick: Callable[[Tick], None] = lambda _: None,
    on_start: Callable[[float], None] = lambda _: None,
    finish_within_s: float | None = None,
) -> SendOutcome:
    """Send every record of ``trace`` on schedule with ``senders`` processes (sharded by key).

    ``on_start`` gets the wall-clock time of t = 0 once every sender is ready; ``tick`` is called a few
    times a second. Ctrl-C stops the senders gracefully (they flush and report what they sent) and the
    outcome says ``interrupted``. Never waits forever: a sender that fails, dies without a report, or
    has not finished ``finish_within_s`` after t = 0 (it is then stopped, and killed after the flush
    timeout) is named in ``outcome.failures`` and the others' results are kept. Raises FloodwallError
    only when the senders cannot start.
    """
    ctx = multiprocessing.get_context("spawn")  # no inherited Kafka client threads or locks
    make_private_dir(run_dir)
    sync = SenderSync(
        ready=ctx.Semaphore(0),
        go=ctx.Event(),
        start_at=ctx.Value("d", 0.0),
        stop=ctx.Event(),
        sent=ctx.RawArray("q", senders),
        acked=ctx.RawArray("q", senders),
    )
    results: multiprocessing.Queue[SenderResult] = ctx.Queue()
    specs = [_spec(i, senders, trace, producer, run_dir, flush_timeout_s) for i in range(senders)]
    procs = [
        ctx.Process(target=sender_main, args=(s, sync, results), name=f"sender-{s.index}") for s in specs
    ]
    for proc in procs:
        proc.start()
    try:
        _await_ready(sync, senders)
        start_at = time.time() + LEAD_IN_S
        sync.start_at.value = start_at
        sync.go.set()
        on_start(start_at)
        deadline = None if finish_within_s is None else time.monotonic() + LEAD_IN_S + finish_within_s
        collected = _collect(procs, results, sync, start_at, tick, deadline, flush_timeout_s)
    finally:
        sync.stop.set()
        sync.go.set()
        for proc in procs:
            proc.join(timeout=flush_timeout_s + 30)
            if proc.is_alive():
                proc.kill()
    failures = collected.failures + [
        f"sender {r.index} failed: {r.error} (see {specs[r.index].log_path})"
        for r in collected.done
        if r.error
    ]
    return _outcome(collected.done, specs, start_at, collected.interrupted, failures)


def _spec(
    index: int, senders: int, trace: Trace, producer: ProducerSettings, run_dir: Path, flush_timeout_s: float
) -> SenderSpec:
    own = producer.model_copy(
        update={"spool_dir": run_dir / "spool" / f"sender-{index}", "client_id": f"floodwall-loadgen-{index}"}
    )
    return SenderSpec(
        index=index,
        senders=senders,
        trace_path=trace.path,
        producer=own,
        ack_path=run_dir / f"acks-{index}.bin",
        log_path=run_dir / f"sender-{index}.log",
        flush_timeout_s=flush_timeout_s,
    )


def _await_ready(sync: SenderSync, senders: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    for _ in range(senders):
        if not sync.ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise FloodwallError(f"sender processes not ready after {READY_TIMEOUT_S:.0f} s")


@dataclass
class _Collected:
    done: list[SenderResult] = field(default_factory=list)
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)


def _collect(
    procs: Sequence[multiprocessing.process.BaseProcess],
    results: multiprocessing.Queue[SenderResult],
    sync: SenderSync,
    start_at: float,
    tick: Callable[[Tick], None],
    deadline: float | None,
    flush_timeout_s: float,
) -> _Collected:
    """Gather the senders' results until each one reported, died, or the deadline (plus the flush
    timeout for stopped senders to report) passed."""
    out = _Collected()
    given_up: set[int] = set()  # senders that died without a report, or were stopped at the deadline
    dead_since: dict[int, float] = {}
    while len(out.done) + len(given_up) < len(procs):
        try:
            out.done.append(results.get(timeout=_TICK_S))
        except queue.Empty:
            _note_dead(procs, out, given_up, dead_since)
        except KeyboardInterrupt:
            if out.interrupted:
                raise  # the second Ctrl-C: stop waiting (send_trace's clean-up ends the senders)
            out.interrupted = True  # the senders flush and report what they sent
            sync.stop.set()
        tick(Tick(time.time() - start_at, sum(sync.sent), sum(sync.acked)))
        if any(r.error for r in out.done):
            sync.stop.set()
        if deadline is not None and time.monotonic() > deadline:
            if not sync.stop.is_set():
                sync.stop.set()  # they flush what they hold and report it
            if time.monotonic() > deadline + flush_timeout_s + DEAD_GRACE_S:
                late = _unreported(procs, out, given_up)
                names = ", ".join(map(str, late))
                out.failures.append(f"sender(s) {names} had not finished when the run's time was up; stopped")
                given_up.update(late)
    out.interrupted = out.interrupted or any(r.interrupted for r in out.done)
    return out


def _unreported(
    procs: Sequence[multiprocessing.process.BaseProcess], out: _Collected, given_up: set[int]
) -> list[int]:
    reported = {r.index for r in out.done}
    return [i for i in range(len(procs)) if i not in reported and i not in given_up]


def _note_dead(
    procs: Sequence[multiprocessing.process.BaseProcess],
    out: _Collected,
    given_up: set[int],
    dead_since: dict[int, float],
) -> None:
    """A sender that exited and whose report has not come within DEAD_GRACE_S is given up on."""
    now = time.monotonic()
    for index in _unreported(procs, out, given_up):
        if procs[index].is_alive():
            continue
        since = dead_since.setdefault(index, now)
        if now - since > DEAD_GRACE_S:
            out.failures.append(
                f"sender {index} died without a report (exit code {procs[index].exitcode}; see its log)"
            )
            given_up.add(index)


def _outcome(
    done: list[SenderResult], specs: list[SenderSpec], start_at: float, interrupted: bool, failures: list[str]
) -> SendOutcome:
    target, sent = PerSecond(), PerSecond()
    for result in done:
        target.merge(result.target_per_s)
        sent.merge(result.sent_per_s)
    return SendOutcome(
        start_at=start_at,
        finished_at=time.time(),
        senders=len(specs),
        results=sorted(done, key=lambda r: r.index),
        ack_paths=[s.ack_path for s in specs],
        target_per_s=target.counts,
        sent_per_s=sent.counts,
        interrupted=interrupted,
        failures=failures,
    )

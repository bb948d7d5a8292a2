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
) -> SendOutcome:
    """Send every record of ``trace`` on schedule with ``senders`` processes (sharded by key).

    ``on_start`` gets the wall-clock time of t = 0 once every sender is ready; ``tick`` is called a few
    times a second. Ctrl-C stops the senders gracefully (they flush and report what they sent) and the
    outcome says ``interrupted``. Raises FloodwallError when a sender fails.
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
        done, interrupted = _collect(procs, results, sync, start_at, tick)
    finally:
        sync.stop.set()
        sync.go.set()
        for proc in procs:
            proc.join(timeout=flush_timeout_s + 30)
            if proc.is_alive():
                proc.kill()
    failed = [r for r in done if r.error]
    if failed:
        raise FloodwallError(
            f"sender {failed[0].index} failed: {failed[0].error} (see {specs[0].log_path.parent})"
        )
    return _outcome(done, specs, start_at, interrupted)


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


def _collect(
    procs: Sequence[multiprocessing.process.BaseProcess],
    results: multiprocessing.Queue[SenderResult],
    sync: SenderSync,
    start_at: float,
    tick: Callable[[Tick], None],
) -> tuple[list[SenderResult], bool]:
    done: list[SenderResult] = []
    interrupted = False
    while len(done) < len(procs):
        try:
            done.append(results.get(timeout=_TICK_S))
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                raise FloodwallError("a sender process died without a report") from None
        except KeyboardInterrupt:
            if interrupted:
                raise  # the second Ctrl-C: stop waiting (send_trace's clean-up ends the senders)
            interrupted = True  # the senders flush and report what they sent
            sync.stop.set()
        tick(Tick(time.time() - start_at, sum(sync.sent), sum(sync.acked)))
        if any(r.error for r in done):
            sync.stop.set()
    return done, interrupted or any(r.interrupted for r in done)


def _outcome(
    done: list[SenderResult], specs: list[SenderSpec], start_at: float, interrupted: bool
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
    )

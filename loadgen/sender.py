"""One sender process: its shard of a trace, paced open-loop, through the producer SDK.

Each sender reads the records whose key hashes to it (so one order's and one SKU's events keep their
order), turns each back into a typed event and hands it to ``EventProducer.emit`` at its scheduled time —
never waiting for acknowledgements. It logs what every ``Delivery`` handle reported (acks.py) and counts
events per second scheduled and sent. All senders of a run share one start time, set by the parent once
every sender's producer is up.
"""

from __future__ import annotations

import gc
import logging
import math
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from multiprocessing.synchronize import Semaphore
from pathlib import Path
from typing import Any
from uuid import UUID

from prometheus_client import CollectorRegistry

from floodwall.errors import FloodwallError
from floodwall.events.codec import EventDeserializer
from floodwall.events.model import Event, OrderEvent, event_type_of
from floodwall.loadgen.acks import Ack, AckStatus, AckWriter
from floodwall.loadgen.pacer import PerSecond, wait_before
from floodwall.loadgen.trace import open_trace
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer

log = logging.getLogger(__name__)

_CHECK_EVERY = 256  # events between looks at the stop flag, the progress counters and the handles
_LATE_S = 0.1


@dataclass(frozen=True)
class SenderSpec:
    index: int
    senders: int
    trace_path: Path
    producer: ProducerSettings  # with this sender's own spool directory
    ack_path: Path
    log_path: Path
    flush_timeout_s: float


@dataclass
class SenderSync:
    """What the parent shares with its senders (multiprocessing primitives, passed at process start)."""

    ready: Semaphore  # each sender releases it once its producer is up
    go: MpEvent  # set by the parent after writing ``start_at``
    start_at: Synchronized[float]  # wall-clock time of the profile's t = 0
    stop: MpEvent  # Ctrl-C in the parent: stop sending, flush, report
    sent: Any  # RawArray('q'): events handed to the SDK, per sender
    acked: Any  # RawArray('q'): events acknowledged, per sender


@dataclass
class SenderResult:
    index: int
    events: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    target_per_s: list[int] = field(default_factory=list)
    sent_per_s: list[int] = field(default_factory=list)
    late_max_s: float = 0.0
    late_events: int = 0  # sent more than 100 ms after their scheduled time
    interrupted: bool = False
    error: str | None = None


class _Harvest:
    """Moves resolved Delivery handles into the ack log, oldest first, so memory stays bounded.

    SPOOLED is not final here: a spooled event becomes ACKNOWLEDGED (with a partition and offset) when the
    SDK replays it, and drain waits need that offset.
    """

    def __init__(self, writer: AckWriter, wall_offset: float) -> None:
        self._writer = writer
        self._wall = wall_offset
        self._pending: deque[tuple[Delivery, UUID | None, str, int, int, float, float]] = deque()
        self.statuses: dict[str, int] = {}
        self.acked = 0

    def add(self, handle: Delivery, event: Event, due: float, emitted: float) -> None:
        lines = len(event.items) if isinstance(event, OrderEvent) else 0
        topic = 0 if isinstance(event, OrderEvent) else 1
        self._pending.append((handle, event.order_id, event_type_of(event), topic, lines, due, emitted))

    def refused(self, event: Event, due: float, emitted: float) -> None:
        topic = 0 if isinstance(event, OrderEvent) else 1
        what = (event.event_id, event.order_id, event_type_of(event))
        self._write(AckStatus.REFUSED, *what, topic, 0, -1, -1, due, emitted)

    def collect(self, final: bool = False) -> None:
        pending = self._pending
        while pending:
            handle = pending[0][0]
            if not final and handle.status in (DeliveryStatus.PENDING, DeliveryStatus.SPOOLED):
                return
            handle, order_id, event_type, topic, lines, due, emitted = pending.popleft()
            acked = math.nan if handle.acknowledged_at is None else handle.acknowledged_at + self._wall
            self._write(
                AckStatus.of(handle.status),
                handle.event_id,
                order_id,
                event_type,
                topic,
                lines,
                -1 if handle.partition is None else handle.partition,
                -1 if handle.offset is None else handle.offset,
                due,
                emitted,
                acked,
            )

    def _write(
        self,
        status: AckStatus,
        event_id: UUID,
        order_id: UUID | None,
        event_type: str,
        topic: int,
        lines: int,
        partition: int,
        offset: int,
        due: float,
        emitted: float,
        acked: float = math.nan,
    ) -> None:
        name = status.name.lower()
        self.statuses[name] = self.statuses.get(name, 0) + 1
        self.acked += status is AckStatus.ACKNOWLEDGED
        wall = self._wall
        self._writer.write(
            Ack(
                event_id,
                order_id,
                event_type,
                status,
                topic,
                lines,
                partition,
                offset,
                due + wall,
                emitted + wall,
                acked,
            )
        )


def run_sender(spec: SenderSpec, sync: SenderSync) -> SenderResult:
    """Send this sender's shard on schedule; return its counts. Raises on setup failures."""
    decode = EventDeserializer(validate=False)  # emit() validates
    trace = open_trace(spec.trace_path)
    result = SenderResult(spec.index)
    target, sent = PerSecond(), PerSecond()
    wall_offset = time.time() - time.monotonic()
    metrics = ProducerMetrics.on(CollectorRegistry())  # one run's counts, not the process-wide registry
    with EventProducer(spec.producer, metrics=metrics) as producer, AckWriter(spec.ack_path) as writer:
        harvest = _Harvest(writer, wall_offset)
        # What exists now (modules, the registry, the client) lives for the whole run: keep the cyclic
        # collector from rescanning it during the send, where a pause shows up as lateness.
        gc.freeze()
        sync.ready.release()
        sync.go.wait()
        start = sync.start_at.value - wall_offset  # monotonic time of t = 0
        for n, record in enumerate(trace.records(spec.index, spec.senders), start=1):
            due = start + record.t
            pause = wait_before(due, time.monotonic())
            if pause:
                time.sleep(pause)
            event = decode(record.value)
            began = time.monotonic()
            try:
                handle = producer.emit(event)
            except FloodwallError as exc:  # ProducerQueueFull, SpoolFull: this event was not accepted
                log.warning("event %s not accepted: %s", event.event_id, exc)
                harvest.refused(event, due, began)
            else:
                harvest.add(handle, event, due, began)
            late = began - due
            result.late_max_s = max(result.late_max_s, late)
            result.late_events += late > _LATE_S
            target.add(record.t)
            sent.add(time.monotonic() - start)
            result.events = n
            if n % _CHECK_EVERY == 0:
                harvest.collect()
                sync.sent[spec.index], sync.acked[spec.index] = n, harvest.acked
                if sync.stop.is_set():
                    result.interrupted = True
                    break
        producer.flush(spec.flush_timeout_s)
        if producer.spooled_events:
            producer.drain(spec.flush_timeout_s)  # replay the spool, so spooled events get offsets
        harvest.collect(final=True)
        sync.sent[spec.index], sync.acked[spec.index] = result.events, harvest.acked
    result.statuses = harvest.statuses
    result.target_per_s, result.sent_per_s = target.counts, sent.counts
    return result


def sender_main(spec: SenderSpec, sync: SenderSync, results: Queue[SenderResult]) -> None:
    """Process entry point: the parent handles Ctrl-C (and tells us via ``sync.stop``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        filename=spec.log_path, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        results.put(run_sender(spec, sync))
    except Exception as exc:
        log.exception("sender %d failed", spec.index)
        sync.ready.release()  # never leave the parent waiting for a sender that died during set-up
        last = traceback.format_exception_only(exc)[-1].strip()
        results.put(SenderResult(spec.index, error=last))

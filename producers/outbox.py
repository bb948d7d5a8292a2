"""The spool side of the producer: events waiting on disk, their handles, and the group commit.

Every method except :meth:`Outbox.read` expects the caller to hold the producer's lock (``cond``); the
group-commit thread waits on that condition.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Message

from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.spool import Spool, SpoolRecord

log = logging.getLogger(__name__)


class Outbox:
    """The durable spool plus the handles of the events in it.

    Guarantees: a handle turns SPOOLED only after the fsync that covers its record; one whose record
    could not be made durable turns FAILED with the reason. A spooled event's handle (while the caller
    keeps it) turns ACKNOWLEDGED when its replay is acknowledged.
    """

    def __init__(
        self,
        spool: Spool,
        cond: threading.Condition,
        metrics: ProducerMetrics,
        count_spooled: Callable[[str], None],
    ) -> None:
        self.spool = spool
        self._cond = cond
        self._metrics = metrics
        self._count_spooled = count_spooled
        self._awaiting_sync: list[Delivery] = []
        # Weak: a caller that dropped its handle must not make the spool hold it in memory.
        self._spooled: weakref.WeakValueDictionary[int, Delivery] = weakref.WeakValueDictionary()

    @property
    def awaiting_sync(self) -> int:
        return len(self._awaiting_sync)

    def is_empty(self) -> bool:
        return self.spool.is_empty()

    def append(self, handle: Delivery, value: bytes) -> None:
        """Spool the event; its handle turns SPOOLED after the next fsync. Raises SpoolFull, OSError."""
        self.spool.append(SpoolRecord(handle.seq, handle.topic, handle.key, value))
        self._awaiting_sync.append(handle)
        self._cond.notify_all()

    def sync_now(self) -> None:
        """fsync the spool and resolve the handles it now covers. Raises OSError (disk trouble)."""
        if not self._awaiting_sync:
            return
        self.spool.sync()
        for handle in self._awaiting_sync:
            self._spooled[handle.seq] = handle
            handle._resolve(DeliveryStatus.SPOOLED)
            self._count_spooled(handle.topic)
        self._awaiting_sync = []
        self.update_gauges()
        self._cond.notify_all()  # flush() waits for the handles to settle

    def sync_step(self, closing: threading.Event) -> None:
        """One round of the group-commit thread: one fsync covers every event spooled since the last."""
        with self._cond:
            if self._awaiting_sync:
                try:
                    self.sync_now()
                except OSError as exc:  # e.g. disk full: those events are not durable, so not accepted
                    log.exception("spool sync failed")
                    self.fail_awaiting(f"spool write failed: {exc}")
            # append() and close() notify: the next round starts the moment there is something to
            # sync. While this fsyncs (under the lock) appends queue up, so one fsync covers them all.
            self._cond.wait_for(lambda: bool(self._awaiting_sync) or closing.is_set())

    def fail_awaiting(self, reason: str) -> None:
        """Resolve every handle still waiting for an fsync as FAILED with ``reason``."""
        for handle in self._awaiting_sync:
            handle.error = reason
            self._metrics.failed.labels(handle.topic, "spool").inc()
            handle._resolve(DeliveryStatus.FAILED)
        self._awaiting_sync = []
        self._cond.notify_all()

    def seal(self) -> list[Path]:
        """Sync, then close the active segment; the sealed segments are the next replay batch."""
        self.sync_now()
        return self.spool.seal()

    def read(self, segments: list[Path]) -> list[SpoolRecord]:
        """The records of ``segments`` in emit order (no lock needed: sealed segments do not change)."""
        return self.spool.read(segments)

    def discard(self, segments: list[Path]) -> None:
        """Delete segments whose every record the broker acknowledged."""
        self.spool.discard(segments)
        self.update_gauges()

    def replayed(self, record: SpoolRecord, msg: Message) -> None:
        """The broker acknowledged a replayed record: resolve its handle if the caller still has it."""
        handle = self._spooled.pop(record.seq, None)
        if handle is not None:
            handle.partition, handle.offset = msg.partition(), msg.offset()
            handle._resolve(DeliveryStatus.ACKNOWLEDGED)

    def update_gauges(self) -> None:
        self._metrics.spool_events.set(self.spool.events)
        self._metrics.spool_bytes.set(self.spool.bytes)

    def close(self) -> None:
        """Sync what is pending and release the spool (its records stay for the next producer)."""
        try:
            self.sync_now()
        except OSError as exc:
            self.fail_awaiting(f"spool write failed: {exc}")
        self.spool.close()

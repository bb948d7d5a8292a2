"""The producer SDK: ``emit(event)`` → validated, Avro-encoded, keyed, and never lost once accepted.

    with EventProducer(load_settings(ProducerSettings)) as producer:
        delivery = producer.emit(OrderEvent.placed(...))
        delivery.wait()   # ACKNOWLEDGED (broker has it) or SPOOLED (durably on disk)

Online, events go to the broker through an idempotent, acks=all client; its callbacks are served inline
in emit() or by a background thread, so callers never call ``poll()``. When the broker becomes
unreachable, or the client fails (a fatal error such as lost idempotence state, or an unexpected
exception from one of its calls), the producer goes *offline*: new events are appended to the durable
spool (group-committed fsync), and the recovery thread moves the client's queued and in-flight messages
into it too, replaces the client with a fresh one and replays the spool in emit order before going online
again (producers/recovery.py). Per-key order holds across all of it: every event carries an emit
sequence number and the replay sorts by it. A replay may repeat an event on the wire (its event id lets
the sink drop the duplicate).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType

from floodwall.errors import FloodwallError
from floodwall.events.codec import EventSerializer
from floodwall.events.model import Event
from floodwall.events.validation import BatchValidationError, EventValidationError
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import Delivery
from floodwall.producers.errors import BatchInterrupted, EventRefused, ProducerClosed, ProducerQueueFull
from floodwall.producers.guard import guarded_loop
from floodwall.producers.lifecycle import ClientSupervisor, ProducerFailed
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.outbox import Outbox
from floodwall.producers.placement import Placed, Placement
from floodwall.producers.recovery import RecoveryWorker
from floodwall.producers.reports import DeliveryReports
from floodwall.producers.routes import Routes
from floodwall.producers.spool import Spool
from floodwall.schemas.registry import SchemaRegistry

__all__ = [
    "BatchInterrupted",
    "EventProducer",
    "EventRefused",
    "ProducerClosed",
    "ProducerFailed",
    "ProducerQueueFull",
]

log = logging.getLogger(__name__)

# Consecutive failures after which the poll or spool thread gives up and the producer fails for good.
_GIVE_UP_AFTER = 5


class EventProducer:
    """Emits order and inventory events. Thread-safe; one instance per process and spool directory.

    Raises SpoolLocked when another process uses the spool directory.
    """

    def __init__(
        self,
        settings: ProducerSettings,
        registry: SchemaRegistry | None = None,
        metrics: ProducerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._metrics = metrics or ProducerMetrics.on()
        self._serialize = EventSerializer(registry)
        self._routes = Routes.build(settings, self._metrics)
        # Re-entrant: client calls made under the lock (poll, flush) may serve callbacks that take it.
        self._cond = threading.Condition(threading.RLock())
        self._closing = threading.Event()
        self._outbox = Outbox(
            Spool(settings.spool_dir, settings.spool_max_bytes),
            self._cond,
            self._metrics,
            lambda topic: self._routes.by_topic[topic].spooled.inc(),
        )
        self._clients = ClientSupervisor(settings, self._metrics, self._outbox, self._cond, self._closing)
        self._reports = DeliveryReports(self._routes, self._metrics, self._clients, self._outbox, self._cond)
        self._placement = Placement(self._routes, self._clients, self._reports, self._outbox)
        recovery = RecoveryWorker(
            self._clients,
            self._outbox,
            self._metrics,
            self._routes.topics,
            lambda topic: self._routes.by_topic[topic].acknowledged.inc(),
        )
        self._threads = [
            self._thread("poll", self._clients.poll_step, _GIVE_UP_AFTER),
            self._thread("spool", partial(self._outbox.sync_step, self._closing), _GIVE_UP_AFTER),
            # Recovery failures leave the producer offline, still spooling durably: it keeps trying.
            self._thread("recovery", recovery.step, None),
        ]
        for thread in self._threads:
            thread.start()
        self._outbox.update_gauges()
        self._metrics.online.set(1 if self._clients.online else 0)
        log.info("producer started: %s", settings.redacted())

    # ---- public API -------------------------------------------------------------------------------

    def emit(self, event: Event, timeout: float | None = None) -> Delivery:
        """Validate, encode and send ``event``; return its :class:`Delivery` handle at once.

        Guarantees: the handle ends ACKNOWLEDGED or SPOOLED (accepted: never lost), or FAILED with the
        reason; a client failure while sending (fatal error, broker gone) spools the event instead.
        Raises EventValidationError (listing every bad field; nothing sent), ProducerQueueFull when the
        in-memory queue stays full for ``timeout`` (default ``emit_timeout_s``), SpoolFull when offline and
        the spool is full, EventRefused when the client refuses this event, ProducerFailed when the
        producer failed for good, ProducerClosed after close(). Nothing was accepted when it raises.
        """
        try:
            value = self._serialize(event)
        except EventValidationError:
            self._metrics.rejected.labels(getattr(event, "schema_name", "unknown")).inc()
            raise
        deadline = time.monotonic() + (self.settings.emit_timeout_s if timeout is None else timeout)
        while True:
            attempt = self._placement.one(event, value)
            if attempt.placed is Placed.SENT:
                self._placement.serve_inline(attempt.client)
                return attempt.handle
            if attempt.placed is Placed.SPOOLED:
                return attempt.handle
            if not self._wait_for_room(attempt.reports_seen, deadline):
                raise self._queue_full(deadline - attempt.handle.emitted_at, "the event was not accepted")

    def emit_many(self, events: Sequence[Event], timeout: float | None = None) -> list[Delivery]:
        """Validate, encode and send ``events`` in order; return their handles, in the same order, at once.

        Every event gets emit()'s guarantees (its handle ends ACKNOWLEDGED or SPOOLED, or FAILED with the
        reason; a client failure while sending spools it; per-key order is the order of ``events``, after
        everything emitted before), for less work per event: one validation and encoding pass, the lock
        taken and the metrics counted once per slice of events rather than per event.

        All or nothing before sending: every event is validated (and encoded) before any is sent. An
        invalid one raises BatchValidationError (an EventValidationError) naming every bad event by its
        index and every bad field; nothing of the batch was sent.

        In order once sending: a full queue makes it wait as emit() does. If the batch cannot go on (the
        queue stayed full for ``timeout``, default ``emit_timeout_s``; the client refused the next event;
        spool full; producer failed or closed) it raises BatchInterrupted with the accepted prefix's
        handles and the reason. Send ``events[len(exc.accepted):]`` to resume.
        """
        if not events:
            return []
        try:
            values = self._serialize.many(events)
        except BatchValidationError as exc:
            for n in exc.invalid:
                self._metrics.rejected.labels(getattr(events[n], "schema_name", "unknown")).inc()
            raise
        handles: list[Delivery] = []
        wait_s = self.settings.emit_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + wait_s
        try:
            while len(handles) < len(events):
                before, sent_before = len(handles), self._reports.sent
                placed = self._placement.slice(events, values, handles)
                if len(handles) > before:
                    deadline = time.monotonic() + wait_s  # progress: the queue was not stuck
                if self._reports.sent != sent_before:  # as emit(): only a client that took events
                    self._placement.serve_inline(placed.client)
                if placed.full_at is not None and not self._wait_for_room(placed.full_at, deadline):
                    raise self._queue_full(wait_s, f"event {len(handles)} of the batch was not accepted")
        except (FloodwallError, OSError) as exc:
            raise BatchInterrupted(handles, exc) from exc
        return handles

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until every emitted event is accepted (acknowledged or durably spooled) or failed.

        Returns how many are still pending (0 on success). Raises ProducerFailed when the producer
        failed for good.
        """
        self._clients.raise_if_failed()
        self._clients.wait_until(
            lambda: self._pending() == 0 or self._clients.failure is not None, time.monotonic() + timeout
        )
        self._clients.raise_if_failed()
        with self._cond:
            return self._pending()

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every event, spooled ones included, has been delivered to the broker.

        Returns False when that did not happen within ``timeout``. Raises ProducerFailed when the
        producer failed for good.
        """
        clients, polls_before = self._clients, self._clients.polls

        def delivered() -> bool:
            if clients.failure is not None:
                return True  # raised below
            # One poll round after the call: an error the client already queued (broker down) is seen.
            served = clients.polls > polls_before
            return served and clients.online and self._outbox.is_empty() and self._pending() == 0

        reached = self._clients.wait_until(delivered, time.monotonic() + timeout)
        self._clients.raise_if_failed()
        return reached

    @property
    def online(self) -> bool:
        """False while events are being spooled (broker unreachable, client being replaced, spool not yet
        replayed, or the producer failed)."""
        return self._clients.online

    @property
    def spooled_events(self) -> int:
        return self._outbox.spool.events

    def close(self, timeout: float = 30.0) -> None:
        """Flush, stop the background threads and release the spool (its events stay for the next run)."""
        if self._closing.is_set():
            return
        try:
            self.flush(timeout)
        except ProducerFailed as exc:
            log.warning("closing a failed producer: %s", exc)
        with self._cond:
            self._closing.set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=max(timeout, 5.0))
        try:
            self._clients.client.flush(min(timeout, 5.0))
        except Exception:  # the client is beyond use; what it held is reported below as left over
            log.exception("final flush of the kafka client failed")
        with self._cond:
            self._outbox.close()
        log.info("producer closed (%d events left in the spool)", self._outbox.spool.events)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- sending and delivery reports -------------------------------------------------------------

    def _pending(self) -> int:
        """Events not yet accepted or failed: in the client unreported, or spooled but not yet synced."""
        return self._reports.unreported + self._outbox.awaiting_sync

    def _wait_for_room(self, reports_seen: int, deadline: float) -> bool:
        """Wait until a delivery report freed room in the client's queue, or the producer went offline,
        failed or is closing (emit() then spools or raises). False when ``deadline`` came first."""
        clients = self._clients
        return clients.wait_until(
            lambda: (
                self._reports.served != reports_seen
                or not clients.online
                or clients.failure is not None
                or self._closing.is_set()
            ),
            deadline,
        )

    def _queue_full(self, waited_s: float, what: str) -> ProducerQueueFull:
        limit = self.settings.queue_max_messages
        return ProducerQueueFull(
            f"the producer's queue ({limit} events) stayed full for {waited_s:.1f} s; {what}"
        )

    # ---- background threads ----------------------------------------------------------------------

    def _thread(self, name: str, step: Callable[[], None], give_up_after: int | None) -> threading.Thread:
        target = guarded_loop(
            name,
            step,
            self._closing,
            on_error=lambda _exc: self._metrics.thread_errors.labels(name).inc(),
            on_give_up=partial(self._give_up, name),
            give_up_after=give_up_after,
        )
        return threading.Thread(target=target, name=f"floodwall-producer-{name}", daemon=True)

    def _give_up(self, name: str, exc: BaseException) -> None:
        """A background thread cannot go on: fail the producer so callers hear of it."""
        with self._cond:
            self._outbox.fail_awaiting(f"the producer's {name} thread failed: {exc}")
        self._clients.fail(
            f"the producer's {name} thread failed {_GIVE_UP_AFTER} times in a row ({type(exc).__name__}: "
            f"{exc}); no events are accepted any more. Spooled events stay in {self.settings.spool_dir} "
            f"for the next producer on it"
        )

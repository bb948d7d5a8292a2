"""The producer SDK: ``emit(event)`` → validated, Avro-encoded, keyed, and never lost once accepted.

    with EventProducer(load_settings(ProducerSettings)) as producer:
        delivery = producer.emit(OrderEvent.placed(...))
        delivery.wait()   # ACKNOWLEDGED (broker has it) or SPOOLED (durably on disk)

Online, events go to the broker through an idempotent, acks=all client; a background thread serves its
callbacks, so callers never call ``poll()``. When the broker becomes unreachable (all brokers down, or a
delivery fails for a retriable reason) the producer goes *offline*: new events are appended to the durable
spool (group-committed fsync) and the client's queued and in-flight messages are purged into it too. A
recovery thread waits until the broker and the topics are back, then replays the spool in emit order
through a fresh client before going online again. Per-key order holds across an outage: every event
carries an emit sequence number and the replay sorts by it. A replay may repeat an event on the wire
(its event id lets the sink drop the duplicate).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from floodwall.errors import FloodwallError
from producers.config import ProducerSettings
from producers.delivery import Delivery, DeliveryStatus
from producers.events import Event, InventoryEvent, OrderEvent
from producers.metrics import ProducerMetrics
from producers.spool import Spool, SpoolRecord
from producers.validation import EventValidationError, problems
from schemas.registry import SchemaRegistry

log = logging.getLogger(__name__)
_CLIENT_LOG = logging.getLogger("producers.librdkafka")

# Delivery errors that mean "the broker or topic is unavailable right now": spool and retry later.
_OUTAGE_CODES = frozenset(
    getattr(KafkaError, name)
    for name in (
        "_MSG_TIMED_OUT",
        "_TRANSPORT",
        "_ALL_BROKERS_DOWN",
        "_PURGE_QUEUE",
        "_PURGE_INFLIGHT",
        "_TIMED_OUT",
        "_UNKNOWN_TOPIC",
        "_UNKNOWN_PARTITION",
        "UNKNOWN_TOPIC_OR_PART",
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_FOR_PARTITION",
        "REQUEST_TIMED_OUT",
        "NETWORK_EXCEPTION",
        "NOT_ENOUGH_REPLICAS",
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "UNKNOWN_PRODUCER_ID",
        "OUT_OF_ORDER_SEQUENCE_NUMBER",
        "_FATAL",
    )
    if hasattr(KafkaError, name)
)


# The background poller stays out of the way while emit() has served reports this recently.
_INLINE_POLL_GRACE_S = 0.05


class ProducerQueueFull(FloodwallError):
    """emit() waited ``emit_timeout_s`` for room in the in-memory queue; the event was not accepted."""


class ProducerClosed(FloodwallError):
    """emit() after close()."""


@dataclass(frozen=True)
class _Route:
    topic: str
    encode: Callable[[Mapping[str, Any]], bytes]
    emitted: Any
    acknowledged: Any
    spooled: Any
    latency: Any


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
        self._routes = self._build_routes(registry or SchemaRegistry.default())
        self._lock = threading.Lock()
        self._spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self._next_seq = self._spool.next_seq()
        self._awaiting_sync: list[Delivery] = []
        self._spooled_handles: weakref.WeakValueDictionary[int, Delivery] = weakref.WeakValueDictionary()
        self._kafka = self._new_client()
        self._standby: Producer | None = None  # probes the broker while offline; becomes the client
        # A spool left by an earlier run is replayed before anything new goes out directly.
        self._online = self._spool.is_empty()
        self._needs_purge = False
        self._last_inline_poll = 0.0
        self._closing = threading.Event()
        self._wake = threading.Condition(self._lock)
        self._threads = [
            threading.Thread(target=self._poll_loop, name="floodwall-producer-poll", daemon=True),
            threading.Thread(target=self._sync_loop, name="floodwall-producer-spool", daemon=True),
            threading.Thread(target=self._recovery_loop, name="floodwall-producer-recovery", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._update_gauges()
        log.info("producer started: %s", settings.redacted())

    # ---- public API -------------------------------------------------------------------------------

    def emit(self, event: Event, timeout: float | None = None) -> Delivery:
        """Validate, encode and send ``event``; return its :class:`Delivery` handle at once.

        Raises EventValidationError (listing every bad field; nothing sent), ProducerQueueFull when the
        in-memory queue stays full for ``timeout`` (default ``emit_timeout_s``), SpoolFull when offline and
        the spool is full, ProducerClosed after close().
        """
        found = problems(event)
        if found:
            self._metrics.rejected.labels(getattr(event, "schema_name", "unknown")).inc()
            raise EventValidationError(found)
        route = self._routes[type(event)]
        value = route.encode(event.to_record())
        key = event.key()
        deadline = time.monotonic() + (self.settings.emit_timeout_s if timeout is None else timeout)
        while True:
            with self._lock:
                if self._closing.is_set():
                    raise ProducerClosed("emit() after close()")
                handle = Delivery(event.event_id, route.topic, key, self._next_seq)
                if not self._online:
                    self._spool_locked(handle, value)
                    self._next_seq += 1
                    route.emitted.inc()
                    return handle
                try:
                    self._kafka.produce(route.topic, value, key, on_delivery=partial(self._delivered, handle))
                except BufferError:
                    pass  # queue full: wait below, outside the lock, while the poller drains it
                else:
                    self._next_seq += 1
                    route.emitted.inc()
                    # Serve ready delivery reports here, in this thread: a separate poller thread would
                    # take the GIL from the caller once per report, which costs more than the report.
                    self._last_inline_poll = time.monotonic()
                    self._kafka.poll(0)
                    return handle
            if time.monotonic() >= deadline:
                raise ProducerQueueFull(
                    f"the producer's queue ({self.settings.queue_max_messages} events) stayed full for "
                    f"{deadline - handle.emitted_at:.1f} s; the event was not accepted"
                )
            time.sleep(0.001)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until every emitted event is accepted (acknowledged or durably spooled) or failed.

        Returns how many are still pending (0 on success).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = len(self._kafka) + len(self._awaiting_sync)
            if pending == 0 or time.monotonic() >= deadline:
                return pending
            time.sleep(0.005)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every event, spooled ones included, has been delivered to the broker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = self._online and self._spool.is_empty() and len(self._kafka) == 0
            if done:
                return True
            time.sleep(0.05)
        return False

    @property
    def online(self) -> bool:
        """False while events are being spooled (broker unreachable or spool not yet replayed)."""
        return self._online

    @property
    def spooled_events(self) -> int:
        return self._spool.events

    def close(self, timeout: float = 30.0) -> None:
        """Flush, stop the background threads and release the spool (its events stay for the next run)."""
        if self._closing.is_set():
            return
        self.flush(timeout)
        with self._lock:
            self._closing.set()
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=max(timeout, 5.0))
        self._kafka.flush(min(timeout, 5.0))
        with self._lock:
            self._sync_now()
            self._spool.close()
        log.info("producer closed (%d events left in the spool)", self._spool.events)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- delivery and spooling ---------------------------------------------------------------------

    def _delivered(self, handle: Delivery, err: KafkaError | None, msg: Message) -> None:
        route = self._routes_by_topic.get(handle.topic)
        if err is None:
            handle.partition, handle.offset = msg.partition(), msg.offset()
            handle._resolve(DeliveryStatus.ACKNOWLEDGED)
            if route:
                route.acknowledged.inc()
                route.latency.observe(handle.acknowledged_at - handle.emitted_at)  # type: ignore[operator]
            return
        if _is_outage(err):
            with self._lock:
                self._go_offline(f"delivery failed: {err.str()}")
                try:
                    self._spool_locked(handle, msg.value() or b"")
                    return
                except FloodwallError as exc:
                    handle.error = str(exc)
        else:
            handle.error = err.str()
        self._metrics.failed.labels(handle.topic, err.name()).inc()
        handle._resolve(DeliveryStatus.FAILED)

    def _spool_locked(self, handle: Delivery, value: bytes) -> None:
        """Append to the spool (caller holds the lock); the handle turns SPOOLED after the next fsync."""
        self._spool.append(SpoolRecord(handle.seq, handle.topic, handle.key, value))
        self._awaiting_sync.append(handle)
        self._wake.notify_all()

    def _sync_now(self) -> None:
        """fsync the spool and resolve the handles it now covers (caller holds the lock)."""
        if not self._awaiting_sync:
            return
        self._spool.sync()
        for handle in self._awaiting_sync:
            self._spooled_handles[handle.seq] = handle
            handle._resolve(DeliveryStatus.SPOOLED)
            route = self._routes_by_topic.get(handle.topic)
            if route:
                route.spooled.inc()
        self._awaiting_sync = []
        self._update_gauges()

    def _go_offline(self, reason: str) -> None:
        if self._online:
            log.warning("broker unreachable (%s): spooling events to %s", reason, self._spool.directory)
            self._online = False
            self._needs_purge = True
            self._metrics.online.set(0)
            self._wake.notify_all()

    def _error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN or err.fatal():
            with self._lock:
                self._go_offline(err.str())
        else:
            log.debug("kafka client: %s", err.str())

    # ---- background threads ------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        """Serve delivery reports while the caller is not emitting (emit() serves them otherwise)."""
        while not self._closing.is_set():
            if time.monotonic() - self._last_inline_poll < _INLINE_POLL_GRACE_S:
                time.sleep(_INLINE_POLL_GRACE_S)
            else:
                self._kafka.poll(0.05)

    def _sync_loop(self) -> None:
        """Group commit: one fsync covers every event spooled since the last one."""
        with self._lock:
            while not self._closing.is_set():
                if self._awaiting_sync:
                    try:
                        self._sync_now()
                    except Exception as exc:  # e.g. disk full: those events are not durable, so not accepted
                        log.exception("spool sync failed")
                        self._fail_awaiting(f"spool write failed: {exc}")
                self._wake.wait(0.002 if self._awaiting_sync else 0.25)

    def _fail_awaiting(self, reason: str) -> None:
        for handle in self._awaiting_sync:
            handle.error = reason
            self._metrics.failed.labels(handle.topic, "spool").inc()
            handle._resolve(DeliveryStatus.FAILED)
        self._awaiting_sync = []

    def _recovery_loop(self) -> None:
        while not self._closing.wait(0.25):
            if self._online:
                continue
            try:
                self._recover_once()
            except Exception:  # never let the recovery thread die: log and retry on the next tick
                log.exception("spool replay attempt failed; retrying")

    def _recover_once(self) -> None:
        if self._needs_purge:
            # Queued and in-flight messages come back as _PURGE_* delivery reports and are spooled with
            # their original sequence numbers, ahead of everything emitted after them.
            self._needs_purge = False
            self._kafka.purge(in_queue=True, in_flight=True, blocking=False)
        if len(self._kafka) > 0:
            return  # wait until the poller has served every outstanding report
        # Replay through a fresh client: no stale producer id or sequence state from before the outage.
        if self._standby is None:
            self._standby = self._new_client()
        if not self._topics_ready(self._standby):
            return
        with self._lock:
            old, self._kafka, self._standby = self._kafka, self._standby, None
        old.flush(0)
        self._replay()

    def _topics_ready(self, client: Producer) -> bool:
        try:
            metadata = client.list_topics(timeout=2.0)
        except Exception:  # KafkaException: broker still down
            return False
        for route in self._routes.values():
            topic = metadata.topics.get(route.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                return False
        return True

    def _replay(self) -> None:
        while True:
            with self._lock:
                self._sync_now()
                if self._spool.is_empty():
                    self._online = True
                    self._metrics.online.set(1)
                    log.info("broker reachable again: spool replayed, sending directly")
                    return
                segments = self._spool.seal()
            records = self._spool.read(segments)
            log.info("replaying %d spooled events", len(records))
            if not self._send_replay(records):
                self._needs_purge = True
                return
            with self._lock:
                self._spool.discard(segments)
                self._update_gauges()

    def _send_replay(self, records: list[SpoolRecord]) -> bool:
        failures: list[str] = []

        def done(record: SpoolRecord, err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failures.append(err.str())
                return
            handle = self._spooled_handles.pop(record.seq, None)
            if handle is not None:
                handle.partition, handle.offset = msg.partition(), msg.offset()
                handle._resolve(DeliveryStatus.ACKNOWLEDGED)
            route = self._routes_by_topic.get(record.topic)
            if route:
                route.acknowledged.inc()

        for record in records:
            while True:
                try:
                    self._kafka.produce(
                        record.topic, record.value, record.key, on_delivery=partial(done, record)
                    )
                    break
                except BufferError:
                    time.sleep(0.005)
            if failures or self._closing.is_set():
                break
        self._kafka.flush(self.settings.delivery_timeout_s + 5)
        if failures:
            log.warning("replay interrupted (%s); the spool is kept and retried", failures[0])
        return not failures and len(self._kafka) == 0

    # ---- construction helpers ----------------------------------------------------------------------

    def _new_client(self) -> Producer:
        conf = self.settings.librdkafka()
        conf["error_cb"] = self._error
        conf["logger"] = _CLIENT_LOG  # librdkafka's own log lines go through logging, not raw stderr
        return Producer(conf)

    def _build_routes(self, registry: SchemaRegistry) -> dict[type, _Route]:
        m = self._metrics
        routes: dict[type, _Route] = {}
        for cls, topic in (
            (OrderEvent, self.settings.orders_topic),
            (InventoryEvent, self.settings.inventory_topic),
        ):
            routes[cls] = _Route(
                topic=topic,
                encode=registry.encoder(cls.schema_name),
                emitted=m.emitted.labels(topic),
                acknowledged=m.acknowledged.labels(topic),
                spooled=m.spooled.labels(topic),
                latency=m.delivery_latency.labels(topic),
            )
        self._routes_by_topic = {r.topic: r for r in routes.values()}
        return routes

    def _update_gauges(self) -> None:
        self._metrics.spool_events.set(self._spool.events)
        self._metrics.spool_bytes.set(self._spool.bytes)
        self._metrics.online.set(1 if self._online else 0)


def _is_outage(err: KafkaError) -> bool:
    return err.code() in _OUTAGE_CODES or err.retriable() or err.fatal()

"""The Kafka client's lifecycle: serve it, notice when it is broken or the broker gone, replace it.

The producer is *online* (emit() produces through :attr:`ClientSupervisor.client`) or *offline* (emit()
spools). Going offline records why the client has to be replaced (:class:`RestartReason`): the broker
became unreachable, a call on the client raised, or the client hit a fatal error (its idempotence state
is lost). The recovery thread then

1. purges the old client's queued and in-flight messages and serves their delivery reports right away:
   each lands in the spool with its original emit sequence number (nothing is left behind in the client);
2. builds a fresh client (new producer id, no sequence state) and waits until it sees every topic;
3. swaps it in (``floodwall_producer_client_restarts_total{reason}``), replays the spool in emit order
   through it and goes online once the spool is empty — checked under the lock, so no emit() slips in
   between the last replayed event and going online.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from confluent_kafka import KafkaError, Message, Producer

from floodwall.errors import FloodwallError
from floodwall.producers.config import ProducerSettings
from floodwall.producers.faults import (
    RestartReason,
    is_outage,
    kafka_error_of,
    needs_new_client,
    restart_reason,
    stronger,
)
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.outbox import Outbox
from floodwall.producers.spool import SpoolRecord

log = logging.getLogger(__name__)
_CLIENT_LOG = logging.getLogger("floodwall.producers.librdkafka")

# How often the recovery thread probes an unreachable broker.
_PROBE_INTERVAL_S = 0.25
# The background poller stays out of the way while emit() has served reports this recently.
INLINE_POLL_GRACE_S = 0.05


class ProducerFailed(FloodwallError):
    """The producer's background machinery failed for good: no event is accepted any more."""


class ClientSupervisor:
    """Owns the Kafka client, the online/offline state and the client's replacement (see module doc).

    Thread-safe: state changes happen under ``cond`` (an RLock condition shared with the producer).
    """

    def __init__(
        self,
        settings: ProducerSettings,
        metrics: ProducerMetrics,
        outbox: Outbox,
        cond: threading.Condition,
        closing: threading.Event,
        topics: list[str],
        count_acknowledged: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._outbox = outbox
        self._cond = cond
        self._closing = closing
        self._topics = topics
        self._count_acknowledged = count_acknowledged
        self._generations = 0
        self.client_generation, self.client = self._build()
        self._standby: tuple[int, Producer] | None = None
        self._standby_broken = False
        # A spool left by an earlier run is replayed (through this fresh client) before anything else.
        self.online = outbox.is_empty()
        self._restart: RestartReason | None = None
        self._purged = False
        self._offline_since: float | None = None if self.online else time.monotonic()
        self.failure: str | None = None
        self.last_inline_poll = 0.0

    # ---- state changes ----------------------------------------------------------------------------

    def go_offline(self, why: str, restart: RestartReason) -> None:
        """Spool from now on and have the recovery thread replace the client (for ``restart``)."""
        with self._cond:
            self._restart = stronger(self._restart, restart)
            if self.online:
                log.warning("producer offline (%s): spooling events to %s", why, self._outbox.spool.directory)
                self.online = False
                self._offline_since = time.monotonic()
                self._metrics.online.set(0)
            self._cond.notify_all()

    def handle_fatal(self, err: KafkaError, where: str) -> None:
        """The entry point for a fatal error of the current client (error_cb, a delivery report, or a
        KafkaException from produce/poll/flush): go offline; the recovery thread moves everything the
        client still holds to the spool, replaces the client and replays the spool. Never raises."""
        log.error("kafka client fatal error in %s (%s): %s; replacing it", where, err.name(), err.str())
        self.go_offline(f"fatal error {err.name()}", RestartReason.FATAL)

    def client_failed(self, exc: BaseException, where: str) -> bool:
        """React to ``exc`` raised by a call on the current client.

        Returns True when the client is being replaced (the event at hand belongs in the spool), False
        when the error concerns one event only (e.g. too large; the caller reports it).
        """
        err = kafka_error_of(exc)
        if err is None:
            log.error("kafka client %s raised %s: %s; replacing the client", where, type(exc).__name__, exc)
            self.go_offline(f"{where} raised {type(exc).__name__}", RestartReason.CLIENT_ERROR)
            return True
        if needs_new_client(err):
            self.handle_fatal(err, where)
            return True
        if is_outage(err):
            self.go_offline(f"{where}: {err.str()}", RestartReason.OUTAGE)
            return True
        return False

    def fail(self, message: str) -> None:
        """Stop accepting events for good: emit() and flush() raise ProducerFailed(message) from now on."""
        with self._cond:
            self.failure = message
            self.online = False
            self._metrics.online.set(0)
            self._cond.notify_all()
        log.error("producer failed: %s", message)

    def raise_if_failed(self) -> None:
        """Raises ProducerFailed once :meth:`fail` was called."""
        if self.failure is not None:
            raise ProducerFailed(self.failure)

    # ---- background steps (run by producers.guard.guarded_loop) ------------------------------------

    def poll_step(self) -> None:
        """Serve delivery reports while the caller is not emitting (emit() serves them otherwise)."""
        if time.monotonic() - self.last_inline_poll < INLINE_POLL_GRACE_S:
            self._closing.wait(INLINE_POLL_GRACE_S)
            return
        try:
            self.client.poll(0.05)
        except Exception as exc:
            self.client_failed(exc, "poll")
            raise  # the guard logs it and backs off; repeated failures surface as ProducerFailed

    def recovery_step(self) -> None:
        """While offline: retire the old client, bring up a fresh one, replay the spool, go online."""
        with self._cond:
            self._cond.wait_for(lambda: self._closing.is_set() or (not self.online and self.failure is None))
            if self._closing.is_set():
                return
            restart = self._restart
        if restart is not None and not self._retire_current():
            return
        if not self._fresh_client_ready(restart):
            self._closing.wait(_PROBE_INTERVAL_S)
            return
        self._replay()

    # ---- recovery ---------------------------------------------------------------------------------

    def _retire_current(self) -> bool:
        """Purge the current client and serve its reports (each spools its event). True once it is empty."""
        client = self.client
        if not self._purged:
            client.purge(in_queue=True, in_flight=True, blocking=False)
            self._purged = True
        left = client.flush(self._settings.delivery_timeout_s)  # waits on librdkafka, serving reports
        if left:
            log.warning("the old kafka client still holds %d events; waiting for their reports", left)
        return left == 0

    def _fresh_client_ready(self, restart: RestartReason | None) -> bool:
        """A client that reaches every topic is in place (swapped in when the old one must go)."""
        if restart is None:
            return self._topics_ready(self.client)  # start-up replay: the first client is fresh
        with self._cond:
            if self._standby is None or self._standby_broken:
                self._standby, self._standby_broken = self._build(), False
            standby = self._standby[1]
        if not self._topics_ready(standby):
            return False
        self._swap()
        return True

    def _swap(self) -> None:
        with self._cond:
            assert self._standby is not None
            old = self.client
            self.client_generation, self.client = self._standby
            self._standby = None
            reason = self._restart or RestartReason.OUTAGE
            self._restart, self._purged = None, False
        self._metrics.restarts.labels(reason.value).inc()
        log.warning("kafka client replaced (reason: %s)", reason.value)
        old.flush(0)  # empty already; serves nothing but lets the old client go quietly

    def _topics_ready(self, client: Producer) -> bool:
        try:
            metadata = client.list_topics(timeout=2.0)
        except Exception:  # KafkaException: broker still down
            return False
        for name in self._topics:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                return False
        return True

    def _replay(self) -> None:
        """Send the spool through the current client, batch by batch, then go online."""
        replayed = 0
        while True:
            with self._cond:
                if self._restart is not None or self._closing.is_set():
                    return  # the fresh client broke or we are closing: the next round starts over
                self._outbox.sync_now()
                if self._outbox.is_empty():
                    self._go_online(replayed)
                    return
                segments = self._outbox.seal()
            records = self._outbox.read(segments)
            log.info("replaying %d spooled events", len(records))
            if not self._send(records):
                return
            replayed += len(records)
            with self._cond:
                self._outbox.discard(segments)

    def _go_online(self, replayed: int) -> None:
        since = self._offline_since or time.monotonic()
        self.online, self._offline_since = True, None
        self._metrics.online.set(1)
        self._cond.notify_all()
        log.info(
            "producer online again after %.1f s offline (%d spooled events replayed)",
            time.monotonic() - since,
            replayed,
        )

    def _send(self, records: list[SpoolRecord]) -> bool:
        """Produce ``records`` in order and wait for every acknowledgement. False: keep the spool."""
        client = self.client
        failures: list[KafkaError] = []

        def done(record: SpoolRecord, err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failures.append(err)
                return
            self._outbox.replayed(record, msg)
            self._count_acknowledged(record.topic)
            self._metrics.replayed.labels(record.topic).inc()

        try:
            for record in records:
                if failures or self._closing.is_set():
                    break
                _produce_waiting(client, record, partial(done, record))
            left = client.flush(self._settings.delivery_timeout_s + 5)
        except Exception as exc:
            self.client_failed(exc, "replay")
            return False
        if failures:
            self.go_offline(f"replay failed: {failures[0].str()}", restart_reason(failures[0]))
            return False
        if left:
            self.go_offline(f"{left} replayed events not acknowledged in time", RestartReason.OUTAGE)
            return False
        return not self._closing.is_set()

    # ---- clients ----------------------------------------------------------------------------------

    def _build(self) -> tuple[int, Producer]:
        self._generations += 1
        generation = self._generations
        conf = self._settings.librdkafka()
        conf["error_cb"] = partial(self._client_error, generation)
        conf["logger"] = _CLIENT_LOG  # librdkafka's own log lines go through logging, not raw stderr
        return generation, Producer(conf)

    def _client_error(self, generation: int, err: KafkaError) -> None:
        """error_cb of every client: an exception here would surface from poll(), so none escapes."""
        try:
            self._on_client_error(generation, err)
        except Exception:
            log.exception("handling kafka client error %s failed", err.name())

    def _on_client_error(self, generation: int, err: KafkaError) -> None:
        standby = self._standby
        if standby is not None and generation == standby[0]:
            if needs_new_client(err):
                log.warning("standby kafka client failed (%s); building another", err.str())
                self._standby_broken = True  # not dropped here: destroying a client in its callback hangs
            return
        if generation != self.client_generation:
            log.debug("kafka client error from a retired client: %s", err.str())
        elif needs_new_client(err):
            self.handle_fatal(err, "error_cb")
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.go_offline(err.str(), RestartReason.OUTAGE)
        else:
            log.debug("kafka client: %s", err.str())


def _produce_waiting(
    client: Producer, record: SpoolRecord, on_delivery: Callable[[KafkaError | None, Message], None]
) -> None:
    """produce(), waiting for room in the client's queue by serving delivery reports (which make room)."""
    while True:
        try:
            client.produce(record.topic, record.value, record.key, on_delivery=on_delivery)
            return
        except BufferError:
            client.poll(0.01)

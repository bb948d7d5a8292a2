"""The Kafka client's lifecycle: serve it, notice when it is broken or the broker gone, replace it.

The producer is *online* (emit() produces through :attr:`ClientSupervisor.client`) or *offline* (emit()
spools). Going offline records why the client has to be replaced (:class:`RestartReason`): the broker
became unreachable, a call on the client raised, or the client hit a fatal error (its idempotence state
is lost). The recovery thread (producers/recovery.py) then moves what the old client holds into the
spool, swaps in a fresh client, replays the spool and calls :meth:`ClientSupervisor.go_online`.

Every state change happens under the shared condition and notifies it; every wait in the producer is a
``wait_for`` on that condition (:meth:`ClientSupervisor.wait_until`), so it wakes as soon as it can.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from confluent_kafka import KafkaError, Producer

from floodwall.errors import FloodwallError
from floodwall.producers.config import ProducerSettings
from floodwall.producers.faults import (
    RestartReason,
    is_outage,
    kafka_error_of,
    needs_new_client,
    stronger,
)
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.outbox import Outbox

log = logging.getLogger(__name__)
_CLIENT_LOG = logging.getLogger("floodwall.producers.librdkafka")

# The background poller stays out of the way while emit() has served reports this recently.
INLINE_POLL_GRACE_S = 0.05
# How long one poll() of the background poller waits for a report (librdkafka wakes it on one).
_POLL_WAIT_S = 0.05

ErrorCallback = Callable[[int, KafkaError], None]


class ProducerFailed(FloodwallError):
    """The producer's background machinery failed for good: no event is accepted any more."""


class ClientSupervisor:
    """Owns the Kafka client and the online/offline/failed state (see the module docstring).

    Thread-safe: state changes happen under ``cond`` (an RLock condition shared with the producer) and
    notify it. ``waiters`` counts threads blocked in :meth:`wait_until`: delivery reports notify only
    while somebody waits (a notify per report would cost more than the report), and the poll thread
    serves reports without its grace pause while somebody waits.
    """

    def __init__(
        self,
        settings: ProducerSettings,
        metrics: ProducerMetrics,
        outbox: Outbox,
        cond: threading.Condition,
        closing: threading.Event,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._outbox = outbox
        self.cond = cond
        self.closing = closing
        self._generations = 0
        self.client_generation, self.client = self.build_client(self.client_error)
        # A spool left by an earlier run is replayed (through this fresh client) before anything else.
        self.online = outbox.is_empty()
        self.restart: RestartReason | None = None
        self._offline_since: float | None = None if self.online else time.monotonic()
        self.failure: str | None = None
        self.last_inline_poll = 0.0
        self.waiters = 0
        # Rounds of the poll thread so far: drain() waits for one, so the client's latest errors count.
        self.polls = 0

    @property
    def delivery_timeout_s(self) -> float:
        return self._settings.delivery_timeout_s

    def needs_recovery(self) -> bool:
        """Offline and not failed for good: the recovery thread has work (caller holds the lock)."""
        return not self.online and self.failure is None

    # ---- waiting ----------------------------------------------------------------------------------

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        """Block until ``predicate()`` holds (re-checked on every notify) or ``deadline`` (monotonic).

        Returns the predicate's last value. Everything the predicates read changes under the lock with
        a notify (delivery reports included while this waits), so it returns as soon as it can.
        """
        with self.cond:
            self.waiters += 1
            self.cond.notify_all()  # the poll thread ends its grace pause: somebody needs reports served
            try:
                return self.cond.wait_for(predicate, max(0.0, deadline - time.monotonic()))
            finally:
                self.waiters -= 1

    # ---- state changes ----------------------------------------------------------------------------

    def go_offline(self, why: str, restart: RestartReason) -> None:
        """Spool from now on and have the recovery thread replace the client (for ``restart``)."""
        with self.cond:
            self.restart = stronger(self.restart, restart)
            if self.online:
                log.warning("producer offline (%s): spooling events to %s", why, self._outbox.spool.directory)
                self.online = False
                self._offline_since = time.monotonic()
                self._metrics.online.set(0)
            self.cond.notify_all()

    def go_online(self, replayed: int) -> None:
        """The spool is empty and the client fresh: produce directly again (caller holds the lock)."""
        since = self._offline_since or time.monotonic()
        self.online, self._offline_since = True, None
        self._metrics.online.set(1)
        self.cond.notify_all()
        log.info(
            "producer online again after %.1f s offline (%d spooled events replayed)",
            time.monotonic() - since,
            replayed,
        )

    def swap(self, generation: int, client: Producer) -> Producer:
        """Make ``client`` the current one (caller holds the lock); returns the retired client."""
        old = self.client
        self.client_generation, self.client = generation, client
        reason = self.restart or RestartReason.OUTAGE
        self.restart = None
        self._metrics.restarts.labels(reason.value).inc()
        log.warning("kafka client replaced (reason: %s)", reason.value)
        return old

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
        with self.cond:
            self.failure = message
            self.online = False
            self._metrics.online.set(0)
            self.cond.notify_all()
        log.error("producer failed: %s", message)

    def raise_if_failed(self) -> None:
        """Raises ProducerFailed once :meth:`fail` was called."""
        if self.failure is not None:
            raise ProducerFailed(self.failure)

    # ---- the poll thread (run by producers.guard.guarded_loop) --------------------------------------

    def poll_step(self) -> None:
        """Serve delivery reports while the caller is not emitting (emit() serves them otherwise)."""
        idle_s = time.monotonic() - self.last_inline_poll
        if idle_s < INLINE_POLL_GRACE_S and not self.waiters:
            with self.cond:  # a waiter or close() ends the pause at once (both notify)
                self.cond.wait_for(
                    lambda: self.waiters > 0 or self.closing.is_set(), INLINE_POLL_GRACE_S - idle_s
                )
            return
        try:
            self.client.poll(_POLL_WAIT_S)  # librdkafka's own wait: returns as soon as a report is served
        except Exception as exc:
            self.client_failed(exc, "poll")
            raise  # the guard logs it and backs off; repeated failures surface as ProducerFailed
        with self.cond:
            self.polls += 1
            if self.waiters:
                self.cond.notify_all()

    # ---- clients ----------------------------------------------------------------------------------

    def build_client(self, on_error: ErrorCallback) -> tuple[int, Producer]:
        """A new client and its generation; ``on_error(generation, err)`` is its error_cb."""
        self._generations += 1
        generation = self._generations
        conf = self._settings.librdkafka()
        conf["error_cb"] = partial(on_error, generation)
        conf["logger"] = _CLIENT_LOG  # librdkafka's own log lines go through logging, not raw stderr
        return generation, Producer(conf)

    def client_error(self, generation: int, err: KafkaError) -> None:
        """error_cb of every client: an exception here would surface from poll(), so none escapes."""
        try:
            self._on_client_error(generation, err)
        except Exception:
            log.exception("handling kafka client error %s failed", err.name())

    # The name the error_cb had before the recovery worker moved out (tests inject errors through it).
    _client_error = client_error

    def _on_client_error(self, generation: int, err: KafkaError) -> None:
        if generation != self.client_generation:
            log.debug("kafka client error from a retired client: %s", err.str())
        elif needs_new_client(err):
            self.handle_fatal(err, "error_cb")
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.go_offline(err.str(), RestartReason.OUTAGE)
        else:
            log.debug("kafka client: %s", err.str())

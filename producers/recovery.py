"""The outage worker: while the producer is offline, retire the broken client and replay the spool.

Contract of :class:`RecoveryWorker` (its :meth:`~RecoveryWorker.step` runs in the producer's
``recovery`` thread under ``producers.guard.guarded_loop``, which logs, backs off and retries):

* **Nothing is left behind.** Before a client is replaced, its queued and in-flight messages are purged
  and their delivery reports served: each lands in the spool with its original emit sequence number.
* **Order.** The spool is replayed in emit-sequence order, batch after batch, through one fresh client
  (idempotent: no reordering within a partition), and the producer goes online only once the spool is
  empty — checked under the shared lock, so no emit() slips in between the last replayed event and
  going online. Per-key order therefore holds across the outage. Idempotence does not cover a record
  that *fails* (times out) while one queued behind it in its partition is still sent: that later one
  would land first, and the replay of the failed one after it (the sink keeps the first copy of an
  event). So a replay starts only once every partition has a leader (after a whole cluster restarts,
  the topics are listed before their leaders are elected), and the first failure purges the client's
  queue at once, before anything queued behind it is sent.
* **Loss and repeats.** A spool segment is deleted only after the broker acknowledged every record in
  it; a replay that breaks off (broker gone again, client broken, close()) keeps the segment, so its
  acknowledged records are sent again next round (the event id lets the sink drop the repeat).
* **Raises.** Whatever an unexpected client or disk error raises (the guard retries the step); a client
  that is merely unreachable is never an exception: the step probes again after ``probe_interval_s``.
* **Close.** ``closing`` (set under the lock, with a notify) ends every wait of the worker at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import ClusterMetadata  # type: ignore[attr-defined]  # documented there, not re-exported in the stub

from floodwall.producers.faults import RestartReason, needs_new_client, restart_reason
from floodwall.producers.lifecycle import ClientSupervisor
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.outbox import Outbox
from floodwall.producers.spool import SpoolRecord
from floodwall.topics import led_topics

log = logging.getLogger(__name__)

# How long to wait between metadata probes of an unreachable broker (the standby client keeps
# connecting in the background meanwhile, so a short pause is enough).
PROBE_INTERVAL_S = 0.25
# Bound of one metadata probe. Short, because close() waits for a probe in progress (a refused broker
# used to hold close() for the whole 2 s); a probe that times out loses nothing, as the client goes on
# connecting and the next probe finds the connection up.
PROBE_TIMEOUT_S = 0.5


class RecoveryWorker:
    """Brings an offline producer back online (see the module docstring for what it guarantees)."""

    def __init__(
        self,
        clients: ClientSupervisor,
        outbox: Outbox,
        metrics: ProducerMetrics,
        topics: list[str],
        count_acknowledged: Callable[[str], None],
        probe_interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self._clients = clients
        self._outbox = outbox
        self._metrics = metrics
        self._topics = topics
        self._count_acknowledged = count_acknowledged
        self._probe_interval_s = probe_interval_s
        self._cond = clients.cond
        self._closing = clients.closing
        # The client being readied to replace the broken one; rebuilt when it breaks before the swap.
        self._standby: tuple[int, Producer] | None = None
        self._standby_broken = False
        self._purged = False

    def step(self) -> None:
        """One round: wait until offline, retire the old client, ready a fresh one, replay, go online."""
        with self._cond:
            self._cond.wait_for(lambda: self._closing.is_set() or self._clients.needs_recovery())
            if self._closing.is_set():
                return
            restart = self._clients.restart
        if restart is not None and not self._retire_current():
            return
        if not self._fresh_client_ready(restart):
            with self._cond:  # pace the probes; close() notifies, so it never waits for the pause
                self._cond.wait_for(self._closing.is_set, self._probe_interval_s)
            return
        self._replay()

    # ---- the old client ---------------------------------------------------------------------------

    def _retire_current(self) -> bool:
        """Purge the current client and serve its reports (each spools its event). True once it is empty."""
        client = self._clients.client
        if not self._purged:
            client.purge(in_queue=True, in_flight=True, blocking=False)
            self._purged = True
        # A purge makes every report ready at once; librdkafka's flush serves them and returns when done.
        left = client.flush(self._clients.delivery_timeout_s)
        if left:
            log.warning("the old kafka client still holds %d events; waiting for their reports", left)
        return left == 0

    # ---- the fresh client -------------------------------------------------------------------------

    def _fresh_client_ready(self, restart: RestartReason | None) -> bool:
        """A client that reaches every topic is in place (swapped in when the old one must go)."""
        if restart is None:
            return self._topics_ready(self._clients.client)  # start-up replay: the first client is fresh
        with self._cond:
            if self._standby is None or self._standby_broken:
                self._standby = self._clients.build_client(self._standby_error)
                self._standby_broken = False
            standby = self._standby[1]
        if not self._topics_ready(standby):
            return False
        with self._cond:
            if self._closing.is_set():
                return False  # close() owns the current client now
            generation, client = self._standby
            self._standby, self._purged = None, False
            old = self._clients.swap(generation, client)
        old.flush(0)  # empty already; serves nothing but lets the old client go quietly
        return True

    def _topics_ready(self, client: Producer) -> bool:
        try:
            metadata = client.list_topics(timeout=PROBE_TIMEOUT_S)
        except Exception:  # KafkaException: broker still down
            return False
        return topics_led(metadata, self._topics)

    def _standby_error(self, generation: int, err: KafkaError) -> None:
        """error_cb of a standby client: once swapped in, its errors are the current client's."""
        standby = self._standby
        if standby is None or generation != standby[0]:
            self._clients.client_error(generation, err)
        elif needs_new_client(err):
            log.warning("standby kafka client failed (%s); building another", err.str())
            self._standby_broken = True  # not dropped here: destroying a client in its callback hangs

    # ---- replay -----------------------------------------------------------------------------------

    def _replay(self) -> None:
        """Send the spool through the current client, batch by batch, then go online."""
        replayed = 0
        while True:
            with self._cond:
                if self._clients.restart is not None or self._closing.is_set():
                    return  # the fresh client broke or we are closing: the next round starts over
                self._outbox.sync_now()
                if self._outbox.is_empty():
                    self._clients.go_online(replayed)
                    return
                segments = self._outbox.seal()
            records = self._outbox.read(segments)
            log.info("replaying %d spooled events", len(records))
            if not self._send(records):
                return
            replayed += len(records)
            with self._cond:
                self._outbox.discard(segments)

    def _send(self, records: list[SpoolRecord]) -> bool:
        """Produce ``records`` in order and wait for every acknowledgement. False: keep the spool."""
        batch = _ReplayBatch(self._cond, self._outbox, self._metrics, self._count_acknowledged)
        deadline = time.monotonic() + self._clients.delivery_timeout_s + 5
        try:
            for record in records:
                if batch.failures or self._interrupted() or not self._produce(record, batch, deadline):
                    break
        except Exception as exc:
            self._clients.client_failed(exc, "replay")
            return False
        self._clients.wait_until(lambda: batch.settled() or self._interrupted(), deadline)
        if batch.failures:
            # Nothing queued behind the failed record may reach the broker before its own next replay.
            self._clients.client.purge(in_queue=True, in_flight=False, blocking=False)
            err = batch.failures[0]
            self._clients.go_offline(f"replay failed: {err.str()}", restart_reason(err))
            return False
        if batch.outstanding and not self._interrupted():
            self._clients.go_offline(
                f"{batch.outstanding} replayed events not acknowledged in time", RestartReason.OUTAGE
            )
            return False
        return not self._interrupted()

    def _produce(self, record: SpoolRecord, batch: _ReplayBatch, deadline: float) -> bool:
        """produce(), waiting for room in the client's queue: the reports of earlier records make it.

        False when no room came before ``deadline`` or the replay was interrupted (nothing produced)."""
        client, on_delivery = self._clients.client, partial(batch.done, record)
        while True:
            seen = batch.reports
            try:
                client.produce(record.topic, record.value, record.key, on_delivery=on_delivery)
                batch.sent += 1
                return True
            except BufferError:
                pass
            if not self._clients.wait_until(partial(self._room_or_interrupted, batch, seen), deadline):
                return False
            if self._interrupted():
                return False

    def _room_or_interrupted(self, batch: _ReplayBatch, reports_seen: int) -> bool:
        return batch.reports != reports_seen or self._interrupted()

    def _interrupted(self) -> bool:
        clients = self._clients
        return self._closing.is_set() or clients.restart is not None or clients.failure is not None


def topics_led(metadata: ClusterMetadata, topics: list[str]) -> bool:
    """Every partition of ``topics`` is in ``metadata`` with a leader: records sent now are not left
    queued behind a leader election, where they could time out while later ones get through."""
    return len(led_topics(metadata, topics)) == len(topics)


class _ReplayBatch:
    """The delivery reports of one replay batch (served by the producer's poll thread)."""

    def __init__(
        self,
        cond: threading.Condition,
        outbox: Outbox,
        metrics: ProducerMetrics,
        count_acknowledged: Callable[[str], None],
    ) -> None:
        self._cond = cond
        self._outbox = outbox
        self._metrics = metrics
        self._count_acknowledged = count_acknowledged
        self.sent = 0
        self.reports = 0
        self.failures: list[KafkaError] = []

    @property
    def outstanding(self) -> int:
        return self.sent - self.reports

    def settled(self) -> bool:
        return self.reports >= self.sent or bool(self.failures)

    def done(self, record: SpoolRecord, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of one replayed record; wakes whoever waits on the batch."""
        with self._cond:
            self.reports += 1
            if err is not None:
                self.failures.append(err)
            else:
                self._outbox.replayed(record, msg)
                self._count_acknowledged(record.topic)
                self._metrics.replayed.labels(record.topic).inc()
            self._cond.notify_all()

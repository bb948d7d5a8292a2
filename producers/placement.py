"""Handing encoded events to the Kafka client, or to the spool while offline: the emit sequence's owner.

Every accepted event gets the next emit sequence number here, under the producer's lock, in the order it
was handed over; the spool's replay sorts by that number, which is what keeps per-key order across an
outage (producers/recovery.py). EventProducer decides when to wait and what to raise; this class only
places what it is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from confluent_kafka import KafkaException, Producer

from floodwall.events.model import Event
from floodwall.producers.delivery import Delivery
from floodwall.producers.errors import EventRefused, ProducerClosed
from floodwall.producers.lifecycle import ClientSupervisor
from floodwall.producers.outbox import Outbox
from floodwall.producers.reports import DeliveryReports
from floodwall.producers.routes import Routes

log = logging.getLogger(__name__)

# A slice of a batch is placed under one hold of the lock: delivery reports (served by other threads) and
# the recovery thread wait for the lock, so one hold stays well under a millisecond.
SLICE = 256


class Placed(Enum):
    SENT = "sent"
    SPOOLED = "spooled"
    QUEUE_FULL = "queue full"


@dataclass(frozen=True)
class Attempt:
    """What placing one event did: ``handle`` is the event's only when ``placed`` is not QUEUE_FULL.

    ``reports_seen`` is the count of delivery reports served at that moment: a full queue waits for it to
    change. ``client`` is the client the event went to (its reports are served inline after SENT).
    """

    placed: Placed
    handle: Delivery
    client: Producer
    reports_seen: int


@dataclass(frozen=True)
class SliceResult:
    """What placing a slice of a batch did: ``full_at`` is set (reports served then) when the queue was
    full before the slice's end."""

    client: Producer
    full_at: int | None


class Placement:
    """Places events in the client or the spool under the shared lock, numbering each accepted one.

    Raises, before anything of the event is placed: ProducerClosed (after close), ProducerFailed (the
    producer failed for good), EventRefused (the client refuses this event), SpoolFull (offline and the
    spool is full).
    """

    def __init__(
        self,
        routes: Routes,
        clients: ClientSupervisor,
        reports: DeliveryReports,
        outbox: Outbox,
    ) -> None:
        self._routes, self._clients, self._reports, self._outbox = routes, clients, reports, outbox
        # The producer's lock and closing flag, as the client supervisor holds them for every part.
        self._cond, self._closing = clients.cond, clients.closing
        self._next_seq = outbox.spool.next_seq()

    def one(self, event: Event, value: bytes) -> Attempt:
        """Place one event; a full queue places nothing (the caller waits and tries again)."""
        route = self._routes.by_class[type(event)]
        with self._cond:
            self._check_usable()
            handle = Delivery(event.event_id, route.topic, event.key(), self._next_seq)
            client = self._clients.client
            reports_seen = self._reports.served
            placed = self._place(client, handle, value)
            if placed is not Placed.QUEUE_FULL:
                self._next_seq += 1
                route.emitted.inc()
        return Attempt(placed, handle, client, reports_seen)

    def slice(self, events: Sequence[Event], values: Sequence[bytes], handles: list[Delivery]) -> SliceResult:
        """Place the next slice of ``events`` (from ``len(handles)`` on) under one hold of the lock,
        appending each accepted event's handle to ``handles``; stops at a full queue."""
        routes = self._routes.by_class
        emitted: dict[str, int] = {}
        full_at: int | None = None
        with self._cond:
            self._check_usable()
            client = self._clients.client
            try:
                for n in range(len(handles), min(len(events), len(handles) + SLICE)):
                    event = events[n]
                    topic = routes[type(event)].topic
                    handle = Delivery(event.event_id, topic, event.key(), self._next_seq)
                    if self._place(client, handle, values[n]) is Placed.QUEUE_FULL:
                        full_at = self._reports.served
                        break
                    self._next_seq += 1
                    handles.append(handle)
                    emitted[topic] = emitted.get(topic, 0) + 1
            finally:  # counted also when an event was refused after others of the slice went
                for topic, count in emitted.items():
                    self._routes.by_topic[topic].emitted.inc(count)
        return SliceResult(client, full_at)

    def serve_inline(self, client: Producer) -> None:
        """Serve ready delivery reports in the caller's thread: a separate poller thread would take the
        GIL from the caller once per report, which costs more than the report. Outside the lock: the
        reports take it. An exception is the client's failure, never the caller's: the event is in."""
        self._clients.last_inline_poll = time.monotonic()
        try:
            client.poll(0)
        except Exception as exc:
            log.exception("serving delivery reports failed")
            self._clients.client_failed(exc, "poll")

    def _check_usable(self) -> None:
        if self._closing.is_set():
            raise ProducerClosed("emit() after close()")
        self._clients.raise_if_failed()

    def _place(self, client: Producer, handle: Delivery, value: bytes) -> Placed:
        """Hand the event to the client, or to the spool while offline (caller holds the lock).

        A client failing in produce() takes the producer offline, and the event goes to the spool with
        the rest.
        """
        if self._clients.online:
            try:
                client.produce(handle.topic, value, handle.key, on_delivery=self._reports.callback(handle))
                self._reports.sent += 1
                return Placed.SENT
            except BufferError:
                return Placed.QUEUE_FULL
            except KafkaException as exc:
                if not self._clients.client_failed(exc, "produce"):
                    raise EventRefused(f"the Kafka client refused the event: {exc.args[0].str()}") from None
        self._outbox.append(handle, value)
        return Placed.SPOOLED

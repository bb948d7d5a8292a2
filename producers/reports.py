"""Delivery reports: how the client's answer about one event settles its :class:`Delivery` handle.

An acknowledged event resolves ACKNOWLEDGED (latency observed); an event the client gives back because
the broker is unreachable or the client failed goes to the durable spool (the producer goes offline and
the recovery worker replays it) and stays accepted; any other error resolves FAILED with the reason.
:class:`DeliveryReports` also counts the events handed to the client and the reports served, under the
producer's condition, and wakes its waiters per report: ``flush()``, ``drain()`` and ``emit()``'s wait
for queue room wait on those counts, never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from confluent_kafka import KafkaError, Message

from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.faults import RestartReason, needs_new_client, should_spool
from floodwall.producers.lifecycle import ClientSupervisor
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.outbox import Outbox
from floodwall.producers.routes import Routes

OnDelivery = Callable[[KafkaError | None, Message], None]


class DeliveryReports:
    """Settles handles from delivery reports and counts them. ``sent`` is changed by the producer (under
    the condition) when it hands an event to the client; ``served`` only here."""

    def __init__(
        self,
        routes: Routes,
        metrics: ProducerMetrics,
        clients: ClientSupervisor,
        outbox: Outbox,
        cond: threading.Condition,
    ) -> None:
        self._routes = routes
        self._metrics = metrics
        self._clients = clients
        self._outbox = outbox
        self._cond = cond
        self.sent = 0  # events handed to the client
        self.served = 0  # their delivery reports served so far

    @property
    def unreported(self) -> int:
        """Events in the client whose report has not been served yet."""
        return self.sent - self.served

    def callback(self, handle: Delivery) -> OnDelivery:
        """The ``on_delivery`` callback of the event ``handle`` stands for."""
        return partial(self._delivered, handle)

    def _delivered(self, handle: Delivery, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of one event. Never raises (an exception would surface from poll())."""
        try:
            self._settle(handle, err, msg)
        finally:
            # Counted only now, with the event acknowledged, spooled or failed: a flush() woken by this
            # must find it settled.
            with self._cond:
                self.served += 1
                if self._clients.waiters:
                    self._cond.notify_all()

    def _settle(self, handle: Delivery, err: KafkaError | None, msg: Message) -> None:
        route = self._routes.by_topic[handle.topic]
        if err is None:
            handle.partition, handle.offset = msg.partition(), msg.offset()
            handle._resolve(DeliveryStatus.ACKNOWLEDGED)
            route.acknowledged.inc()
            route.latency.observe(handle.acknowledged_at - handle.emitted_at)  # type: ignore[operator]
            return
        if should_spool(err):
            if needs_new_client(err):
                self._clients.handle_fatal(err, "delivery report")
            else:
                self._clients.go_offline(f"delivery failed: {err.str()}", RestartReason.OUTAGE)
            if self._spool(handle, msg):
                return
        else:
            handle.error = err.str()
        self._metrics.failed.labels(handle.topic, err.name()).inc()
        handle._resolve(DeliveryStatus.FAILED)

    def _spool(self, handle: Delivery, msg: Message) -> bool:
        """Spool an event the client gave back; on failure set ``handle.error`` and return False."""
        try:
            with self._cond:
                self._outbox.append(handle, msg.value() or b"")
            return True
        except Exception as exc:  # SpoolFull, or a disk error: the event is not accepted
            handle.error = str(exc)
            return False

"""The handle :meth:`EventProducer.emit` returns: where one event stands."""

from __future__ import annotations

import threading
import time
from enum import StrEnum
from uuid import UUID

from floodwall.errors import FloodwallError


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # handed to the client, not yet accepted
    ACKNOWLEDGED = "acknowledged"  # the broker has it (acks=all)
    SPOOLED = "spooled"  # durably on local disk; delivered when the broker is back
    FAILED = "failed"  # rejected for good (e.g. too large); see ``error``


class DeliveryFailed(FloodwallError):
    """The event was not accepted: neither acknowledged by the broker nor spooled."""


# Handles are created at up to ~10^5/s: no Event per handle unless somebody actually waits on it.
_WAITER_LOCK = threading.Lock()


class Delivery:
    """Where one emitted event stands. ``accepted`` is True once it is acknowledged *or* durably spooled —
    from then on Floodwall will not lose it. A spooled event turns ``ACKNOWLEDGED`` once replayed (while
    this process lives)."""

    __slots__ = (
        "__weakref__",
        "_event",
        "acknowledged_at",
        "emitted_at",
        "error",
        "event_id",
        "key",
        "offset",
        "partition",
        "seq",
        "status",
        "topic",
    )

    def __init__(self, event_id: UUID, topic: str, key: bytes, seq: int) -> None:
        self.event_id = event_id
        self.topic = topic
        self.key = key
        self.seq = seq
        self.status = DeliveryStatus.PENDING
        self.partition: int | None = None
        self.offset: int | None = None
        self.error: str | None = None
        self.emitted_at = time.monotonic()
        self.acknowledged_at: float | None = None
        self._event: threading.Event | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (DeliveryStatus.ACKNOWLEDGED, DeliveryStatus.SPOOLED)

    def wait(self, timeout: float | None = None) -> DeliveryStatus:
        """Block until the event is accepted or failed (or ``timeout``); return the status."""
        if self.status is DeliveryStatus.PENDING:
            with _WAITER_LOCK:
                if self._event is None:
                    self._event = threading.Event()
                waiter = self._event
            if self.status is DeliveryStatus.PENDING:  # re-check: it may have resolved meanwhile
                waiter.wait(timeout)
        return self.status

    def result(self, timeout: float | None = None) -> DeliveryStatus:
        """Like :meth:`wait`, but raise DeliveryFailed when failed and TimeoutError when still pending."""
        status = self.wait(timeout)
        if status is DeliveryStatus.FAILED:
            raise DeliveryFailed(f"event {self.event_id} to {self.topic} failed: {self.error}")
        if status is DeliveryStatus.PENDING:
            raise TimeoutError(f"event {self.event_id} still pending after {timeout} s")
        return status

    @property
    def latency_s(self) -> float | None:
        """Seconds from emit() to the broker's acknowledgement (None until acknowledged)."""
        return None if self.acknowledged_at is None else self.acknowledged_at - self.emitted_at

    def _resolve(self, status: DeliveryStatus) -> None:
        if status is DeliveryStatus.ACKNOWLEDGED:
            self.acknowledged_at = time.monotonic()
        self.status = status
        waiter = self._event
        if waiter is not None:
            waiter.set()

    def __repr__(self) -> str:
        where = f" p{self.partition}@{self.offset}" if self.partition is not None else ""
        return f"<Delivery {self.event_id} {self.topic} {self.status}{where}>"

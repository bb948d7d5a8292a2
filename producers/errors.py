"""The SDK's exceptions (re-exported by :mod:`floodwall.producers.producer`, where callers import them)."""

from __future__ import annotations

from floodwall.errors import FloodwallError
from floodwall.producers.delivery import Delivery


class ProducerQueueFull(FloodwallError):
    """emit() waited ``emit_timeout_s`` for room in the in-memory queue; the event was not accepted."""


class ProducerClosed(FloodwallError):
    """emit() after close()."""


class EventRefused(FloodwallError):
    """The Kafka client refused this one event (e.g. larger than the broker takes); it was not accepted."""


class BatchInterrupted(FloodwallError):
    """emit_many() stopped part-way. ``accepted`` holds the handles of ``events[:len(accepted)]``, each
    as emit() would have returned it (it ends ACKNOWLEDGED, SPOOLED or FAILED); no later event was
    accepted. ``reason`` (also ``__cause__``) is why: ProducerQueueFull, EventRefused (for the event at
    ``len(accepted)``), SpoolFull, ProducerFailed, ProducerClosed or an OSError of the spool."""

    def __init__(self, accepted: list[Delivery], reason: Exception) -> None:
        self.accepted = accepted
        self.reason = reason
        super().__init__(f"emit_many accepted only the first {len(accepted)} events: {reason}")

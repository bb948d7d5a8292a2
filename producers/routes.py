"""Where each event class goes: its topic and the topic's metric children."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from floodwall.events.model import Event, InventoryEvent, OrderEvent
from floodwall.producers.config import ProducerSettings
from floodwall.producers.metrics import ProducerMetrics


@dataclass(frozen=True)
class Route:
    """One event class's way out. The metric children are looked up once: labels() per event costs."""

    topic: str
    emitted: Counter
    acknowledged: Counter
    spooled: Counter
    latency: Histogram


@dataclass(frozen=True)
class Routes:
    """The routes by event class (for emit) and by topic (for delivery reports and the spool)."""

    by_class: dict[type[Event], Route]
    by_topic: dict[str, Route]

    @classmethod
    def build(cls, settings: ProducerSettings, metrics: ProducerMetrics) -> Routes:
        """The routes of both event classes to the settings' topics."""
        by_class: dict[type[Event], Route] = {}
        event_classes: tuple[tuple[type[Event], str], ...] = (
            (OrderEvent, settings.orders_topic),
            (InventoryEvent, settings.inventory_topic),
        )
        for event_class, topic in event_classes:
            by_class[event_class] = Route(
                topic=topic,
                emitted=metrics.emitted.labels(topic),
                acknowledged=metrics.acknowledged.labels(topic),
                spooled=metrics.spooled.labels(topic),
                latency=metrics.delivery_latency.labels(topic),
            )
        return cls(by_class, {r.topic: r for r in by_class.values()})

    @property
    def topics(self) -> list[str]:
        return list(self.by_topic)

"""Where each event class goes: its topic, its encoder and the topic's metric children."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from floodwall.producers.config import ProducerSettings
from floodwall.producers.events import Event, InventoryEvent, OrderEvent
from floodwall.producers.metrics import ProducerMetrics
from floodwall.schemas.registry import SchemaRegistry


@dataclass(frozen=True)
class Route:
    """One event class's way out. The metric children are looked up once: labels() per event costs."""

    topic: str
    encode: Callable[[Mapping[str, Any]], bytes]  # an Avro record (field name -> value) to wire bytes
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
    def build(cls, settings: ProducerSettings, registry: SchemaRegistry, metrics: ProducerMetrics) -> Routes:
        """Raises SchemaError when the registry lacks a current schema of an event class."""
        by_class: dict[type[Event], Route] = {}
        event_classes: tuple[tuple[type[Event], str], ...] = (
            (OrderEvent, settings.orders_topic),
            (InventoryEvent, settings.inventory_topic),
        )
        for event_class, topic in event_classes:
            by_class[event_class] = Route(
                topic=topic,
                encode=registry.encoder(event_class.schema_name),
                emitted=metrics.emitted.labels(topic),
                acknowledged=metrics.acknowledged.labels(topic),
                spooled=metrics.spooled.labels(topic),
                latency=metrics.delivery_latency.labels(topic),
            )
        return cls(by_class, {r.topic: r for r in by_class.values()})

    @property
    def topics(self) -> list[str]:
        return list(self.by_topic)

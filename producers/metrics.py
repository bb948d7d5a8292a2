"""Prometheus metrics of the producer SDK (``floodwall_producer_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_BY_REGISTRY: dict[int, ProducerMetrics] = {}


@dataclass(frozen=True)
class ProducerMetrics:
    emitted: Counter
    acknowledged: Counter
    spooled: Counter
    failed: Counter
    rejected: Counter
    delivery_latency: Histogram
    spool_events: Gauge
    spool_bytes: Gauge
    online: Gauge
    restarts: Counter
    replayed: Counter
    thread_errors: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry = REGISTRY) -> ProducerMetrics:
        """The SDK's metrics in ``registry``, created once per registry (several producers share them)."""
        existing = _BY_REGISTRY.get(id(registry))
        if existing is not None:
            return existing
        made = cls(
            emitted=Counter(
                "floodwall_producer_events_emitted_total",
                "Events handed to emit()",
                ["topic"],
                registry=registry,
            ),
            acknowledged=Counter(
                "floodwall_producer_events_acknowledged_total",
                "Events acknowledged by the broker (acks=all)",
                ["topic"],
                registry=registry,
            ),
            spooled=Counter(
                "floodwall_producer_events_spooled_total",
                "Events written to the durable outage spool",
                ["topic"],
                registry=registry,
            ),
            failed=Counter(
                "floodwall_producer_events_failed_total",
                "Events neither acknowledged nor spooled",
                ["topic", "reason"],
                registry=registry,
            ),
            rejected=Counter(
                "floodwall_producer_events_rejected_total",
                "Events refused by validation before sending",
                ["schema"],
                registry=registry,
            ),
            delivery_latency=Histogram(
                "floodwall_producer_delivery_latency_seconds",
                "emit() to broker acknowledgement",
                ["topic"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                registry=registry,
            ),
            spool_events=Gauge(
                "floodwall_producer_spool_events", "Events waiting in the outage spool", registry=registry
            ),
            spool_bytes=Gauge(
                "floodwall_producer_spool_bytes", "Bytes in the outage spool", registry=registry
            ),
            online=Gauge(
                "floodwall_producer_online",
                "1 while events go straight to the broker, 0 while spooling",
                registry=registry,
            ),
            restarts=Counter(
                "floodwall_producer_client_restarts_total",
                "Kafka clients replaced by a fresh one (reason: fatal, client_error, outage)",
                ["reason"],
                registry=registry,
            ),
            replayed=Counter(
                "floodwall_producer_events_replayed_total",
                "Spooled events the broker acknowledged on replay",
                ["topic"],
                registry=registry,
            ),
            thread_errors=Counter(
                "floodwall_producer_thread_errors_total",
                "Exceptions caught in the SDK's background threads (logged with traceback)",
                ["thread"],
                registry=registry,
            ),
        )
        _BY_REGISTRY[id(registry)] = made
        return made

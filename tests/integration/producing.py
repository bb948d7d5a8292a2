"""Helpers of the SDK's integration tests (its fixtures live in conftest.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from floodwall.producers.producer import EventProducer


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def is_online(producer: EventProducer) -> bool:
    return producer.online  # a call, so the type checker does not carry one reading over to the next

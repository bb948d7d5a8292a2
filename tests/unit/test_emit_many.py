"""EventProducer.emit_many without a broker: all-or-nothing validation, and a full queue mid-batch.

The broker is *silent* (a listener that never answers, tests/unit/test_producer_waits.py): nothing is
ever acknowledged, so the client's queue (``queue_max_messages``) fills and stays full until the test
takes the producer offline, which moves everything to the spool.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from floodwall.events.model import InventoryEvent
from floodwall.events.validation import BatchValidationError
from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.faults import RestartReason
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import BatchInterrupted, EventProducer, ProducerQueueFull
from tests.unit.test_producer_waits import LONG_S, _in_thread, _settings, silent_broker

__all__ = ["silent_broker"]  # the fixture, used by name

QUEUE = 1000  # the smallest queue the settings allow


@pytest.fixture
def producer(tmp_path: Path, silent_broker: str) -> Iterator[tuple[EventProducer, CollectorRegistry]]:
    registry = CollectorRegistry()
    settings = _settings(tmp_path, silent_broker, queue_max_messages=QUEUE, emit_timeout_s=LONG_S)
    made = EventProducer(settings, metrics=ProducerMetrics.on(registry))
    yield made, registry
    made._clients.go_offline("test: done", RestartReason.OUTAGE)  # spool what the silent broker holds
    made.close(timeout=LONG_S)


def restocks(count: int, start: int = 0) -> list[InventoryEvent]:
    return [
        InventoryEvent.restock(sku=f"SKU-{n % 7}", warehouse="w1", quantity=1) for n in range(start, count)
    ]


def emitted(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("floodwall_producer_events_emitted_total", {"topic": "inventory"}) or 0.0


def test_one_invalid_event_refuses_the_whole_batch_before_anything_is_sent(
    producer: tuple[EventProducer, CollectorRegistry],
) -> None:
    sdk, registry = producer
    events = restocks(6)
    events[2] = dataclasses.replace(events[2], quantity=0)
    events[4] = dataclasses.replace(events[4], sku="")
    with pytest.raises(BatchValidationError) as refused:
        sdk.emit_many(events)
    assert sorted(refused.value.invalid) == [2, 4]
    assert refused.value.invalid[4].event_id == str(events[4].event_id)
    assert [p.path for p in refused.value.problems] == ["events[2].quantity", "events[4].sku"]
    assert sdk._reports.sent == 0 and emitted(registry) == 0 and sdk.spooled_events == 0
    rejected = registry.get_sample_value(
        "floodwall_producer_events_rejected_total", {"schema": "inventory_event"}
    )
    assert rejected == 2
    # The valid rest goes, in order, with the emit sequence numbers it would have had.
    handles = sdk.emit_many(events[:2])
    assert [h.event_id for h in handles] == [e.event_id for e in events[:2]]
    assert [h.seq for h in handles] == [handles[0].seq, handles[0].seq + 1]
    assert emitted(registry) == 2 and sdk.emit_many([]) == []


def test_a_queue_that_stays_full_stops_the_batch_with_the_accepted_prefix(
    producer: tuple[EventProducer, CollectorRegistry],
) -> None:
    sdk, registry = producer
    events = restocks(QUEUE + 300)
    started = time.monotonic()
    with pytest.raises(BatchInterrupted) as stopped:
        sdk.emit_many(events, timeout=0.3)
    assert 0.25 <= time.monotonic() - started < LONG_S / 2
    accepted = stopped.value.accepted
    assert isinstance(stopped.value.reason, ProducerQueueFull)
    assert stopped.value.__cause__ is stopped.value.reason
    assert len(accepted) == QUEUE  # exactly what the client's queue holds; nothing after it was taken
    assert [h.event_id for h in accepted] == [e.event_id for e in events[:QUEUE]]
    assert all(h.status is DeliveryStatus.PENDING for h in accepted)
    assert emitted(registry) == QUEUE and sdk._reports.sent == QUEUE
    seqs = [h.seq for h in accepted]
    assert seqs == sorted(seqs) and len(set(seqs)) == QUEUE


def test_a_full_queue_mid_batch_waits_and_goes_on_when_room_frees(
    producer: tuple[EventProducer, CollectorRegistry],
) -> None:
    sdk, registry = producer
    events = restocks(QUEUE + 300)
    clients = sdk._clients
    _, returned, result = _in_thread(lambda: sdk.emit_many(events))
    with clients.cond:
        assert clients.cond.wait_for(lambda: clients.waiters > 0, 10), "emit_many() did not wait for room"
    assert not returned.is_set() and sdk._reports.sent == QUEUE
    # Going offline frees the batch: the rest goes to the spool, the queued events follow them there.
    clients.go_offline("test: broker gone", RestartReason.OUTAGE)
    assert returned.wait(LONG_S / 2), "emit_many() still waiting after the producer went offline"
    handles = result[0]
    assert isinstance(handles, list) and all(isinstance(h, Delivery) for h in handles)
    assert [h.event_id for h in handles] == [e.event_id for e in events]
    assert [h.seq for h in handles] == list(range(handles[0].seq, handles[0].seq + len(events)))
    assert sdk.flush(LONG_S) == 0
    assert all(h.status is DeliveryStatus.SPOOLED for h in handles)
    assert sdk.spooled_events == len(events) and emitted(registry) == len(events)

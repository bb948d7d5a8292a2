"""The SDK survives the broker: kill -9 mid-send, a fatal client error, a broker that lost its data.

Real broker, no mocks of Kafka. Each test emits from a background thread while the broker is killed or
the client fails, then checks every event the SDK accepted is in the topic, in per-key emit order (a
replay may repeat an event: the first occurrence counts), and prints its figures (docs/sdk.md).
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from prometheus_client import CollectorRegistry

from floodwall.events.model import InventoryEvent
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.producer import EventProducer
from floodwall.stack.layout import Layout
from floodwall.stack.procs import stop
from floodwall.stack.up import stack_up
from floodwall.topics import ensure_topics
from tests.integration.conftest import RunningStack, running_stack
from tests.integration.kafka_reading import decode_single_object, load_schema, read_topic
from tests.integration.producing import is_online, metric

pytestmark = pytest.mark.integration

SKUS = [f"SKU-{n:02d}" for n in range(50)]


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    """A stack of this module's own: one test wipes the broker's data, which no other test may see."""
    yield from running_stack(pg_nodes=1)


def stock_events(count: int) -> list[InventoryEvent]:
    return [
        InventoryEvent.reservation(sku=SKUS[n % len(SKUS)], warehouse="w1", quantity=1, order_id=uuid.uuid4())
        for n in range(count)
    ]


class Emitter:
    """Emits ``events`` from a thread; the test waits on its progress (a condition, not a sleep)."""

    def __init__(self, producer: EventProducer, events: list[InventoryEvent]) -> None:
        self.events = events
        self.handles: list[Delivery] = []
        self.error: BaseException | None = None
        self._producer = producer
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="test-emitter")
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.events:
                handle = self._producer.emit(event)
                with self._progress:
                    self.handles.append(handle)
                    self._progress.notify_all()
        except BaseException as exc:  # reported by join(); the test fails on it
            self.error = exc
            with self._progress:
                self._progress.notify_all()

    def wait_for(self, emitted: int, timeout: float = 60.0) -> None:
        with self._progress:
            reached = self._progress.wait_for(
                lambda: len(self.handles) >= emitted or self.error is not None, timeout
            )
        assert reached, f"only {len(self.handles)} of {emitted} events emitted in {timeout} s"
        assert self.error is None, f"emit() raised: {self.error!r}"

    def join(self, timeout: float = 120.0) -> list[Delivery]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the emitter did not finish"
        assert self.error is None, f"emit() raised: {self.error!r}"
        assert len(self.handles) == len(self.events)
        return self.handles


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` (sum of high watermarks: repeats from a replay included)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"size-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        marks = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions]
        return sum(high for _, high in marks)
    finally:
        consumer.close()


def assert_all_in_key_order(settings: ProducerSettings, events: list[InventoryEvent]) -> int:
    """Every event is in the topic and each SKU's first occurrences follow emit order; returns repeats."""
    topic = settings.inventory_topic
    size = topic_size(settings.bootstrap_servers, topic)
    fp, schema = load_schema("inventory_event")
    by_key: dict[str, list[tuple[int, uuid.UUID]]] = defaultdict(list)
    for msg in read_topic(settings.bootstrap_servers, topic, expect=size):
        record = decode_single_object(msg.value, fp, schema)
        by_key[record["sku"]].append((msg.offset, record["event_id"]))
    expected: dict[str, list[uuid.UUID]] = defaultdict(list)
    for event in events:
        expected[event.sku].append(event.event_id)
    for sku, sent in expected.items():
        seen: dict[uuid.UUID, None] = {}
        for _, event_id in sorted(by_key[sku]):
            seen.setdefault(event_id)
        assert list(seen) == sent, f"events of {sku} missing or out of order"
    return size - len(events)


def assert_accepted(handles: list[Delivery]) -> dict[DeliveryStatus, int]:
    statuses: dict[DeliveryStatus, int] = defaultdict(int)
    for handle in handles:
        statuses[handle.status] += 1
    assert set(statuses) <= {DeliveryStatus.ACKNOWLEDGED, DeliveryStatus.SPOOLED}, dict(statuses)
    return dict(statuses)


def restart_broker(stack: RunningStack) -> float:
    started = time.monotonic()
    stack.state = stack_up(stack.settings, say=lambda _: None)
    return time.monotonic() - started


def kill_mid_send(
    stack: RunningStack, producer: EventProducer, emitter: Emitter, after: int
) -> tuple[dict[DeliveryStatus, int], float, float]:
    """SIGKILL the broker once ``emitter`` emitted ``after`` events, let it finish (spooling), restart the
    broker and wait for the spool's replay; asserts every handle ends ACKNOWLEDGED. Returns the statuses
    after the flush, the broker's restart time and kill to drained, in seconds."""
    emitter.wait_for(after)
    assert stop(stack.state.processes["broker-1"], signal.SIGKILL)
    killed = time.monotonic()
    handles = emitter.join()
    assert producer.flush(60) == 0
    statuses = assert_accepted(handles)
    assert not is_online(producer)
    restart_s = restart_broker(stack)
    assert producer.drain(timeout=120), "the spool was not replayed"
    recovered_s = time.monotonic() - killed
    assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles)
    return statuses, restart_s, recovered_s


def test_kill9_mid_send_loses_nothing_and_keeps_key_order(
    stack: RunningStack, producer: EventProducer, settings: ProducerSettings, registry: CollectorRegistry
) -> None:
    warm = stock_events(500)  # acknowledged before the kill: connection and metadata are warm
    assert all(producer.emit(e).result(timeout=30) is DeliveryStatus.ACKNOWLEDGED for e in warm)
    events = stock_events(30_000)
    # After 5,000 the client holds queued and in-flight events.
    statuses, restart_s, recovered_s = kill_mid_send(stack, producer, Emitter(producer, events), 5_000)
    assert producer.spooled_events == 0 and is_online(producer)
    topic = settings.inventory_topic
    spooled = metric(registry, "floodwall_producer_events_spooled_total", topic=topic)
    replayed = metric(registry, "floodwall_producer_events_replayed_total", topic=topic)
    assert spooled > 0 and replayed == spooled
    assert metric(registry, "floodwall_producer_client_restarts_total", reason="outage") >= 1
    assert metric(registry, "floodwall_producer_thread_errors_total", thread="poll") == 0
    repeats = assert_all_in_key_order(settings, [*warm, *events])
    print(
        f"\nkill -9: statuses after flush {statuses}, spooled {spooled:.0f}, replayed {replayed:.0f}, "
        f"repeats {repeats}, broker restart {restart_s:.1f} s, kill to drained {recovered_s:.1f} s, "
        f"drained {recovered_s - restart_s:.1f} s after the restart returned"
    )


def test_fatal_error_replaces_client_and_loses_nothing(
    producer: EventProducer, settings: ProducerSettings, registry: CollectorRegistry
) -> None:
    # Apache Kafka 4.4 never gave this SDK's client a fatal error (it replaces its client on every outage,
    # docs/sdk.md), so the error is fed through the client's own error_cb entry point, as librdkafka
    # would call it, while events really flow to the broker.
    events = stock_events(20_000)
    clients = producer._clients
    first_client = clients.client
    emitter = Emitter(producer, events)
    emitter.wait_for(5_000)
    fatal = KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "injected by the test", fatal=True)
    injected = time.monotonic()
    clients._client_error(clients.client_generation, fatal)
    assert not is_online(producer)  # at once: the next events go to the spool
    handles = emitter.join()
    assert producer.flush(60) == 0
    statuses = assert_accepted(handles)
    assert producer.drain(timeout=120), "the spool was not replayed"
    recovered_s = time.monotonic() - injected
    assert clients.client is not first_client
    assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles)
    assert metric(registry, "floodwall_producer_client_restarts_total", reason="fatal") == 1
    assert metric(registry, "floodwall_producer_online") == 1
    assert metric(registry, "floodwall_producer_thread_errors_total", thread="poll") == 0
    topic = settings.inventory_topic
    spooled = metric(registry, "floodwall_producer_events_spooled_total", topic=topic)
    assert spooled > 0
    assert metric(registry, "floodwall_producer_events_replayed_total", topic=topic) == spooled
    repeats = assert_all_in_key_order(settings, events)
    print(
        f"\nfatal: statuses after flush {statuses}, spooled/replayed {spooled:.0f}, repeats {repeats}, "
        f"fatal to drained {recovered_s:.2f} s"
    )


def test_broker_losing_its_data_loses_no_accepted_event(
    stack: RunningStack, producer: EventProducer, settings: ProducerSettings, registry: CollectorRegistry
) -> None:
    # What made a plain confluent-kafka client fail fatally (docs/sdk.md): the broker loses its data
    # (kill -9, storage wiped and re-formatted) and the topic is re-created. The SDK replays its spool
    # into the new, empty topic through a fresh client; every event it accepted must arrive.
    before = [producer.emit(e) for e in stock_events(5_000)]  # emitted together, acknowledged together
    assert producer.flush(60) == 0 and all(h.status is DeliveryStatus.ACKNOWLEDGED for h in before)
    during = stock_events(20_000)
    emitter = Emitter(producer, during)
    emitter.wait_for(2_000)
    assert stop(stack.state.processes["broker-1"], signal.SIGKILL)
    killed = time.monotonic()
    handles = emitter.join()
    assert producer.flush(60) == 0
    statuses = assert_accepted(handles)
    # Acknowledged so far means in the data about to be wiped; spooled means on the SDK's disk.
    spooled = [e for e, h in zip(during, handles, strict=True) if h.status is DeliveryStatus.SPOOLED]
    assert len(spooled) > 0
    for node in Layout(stack.settings).brokers:
        wipe(node.log_dir)
    restart_s = restart_broker(stack)  # re-formats the storage: a new, empty cluster with the same id
    ensure_topics(settings.bootstrap_servers, [settings.orders_topic, settings.inventory_topic], 6)
    assert producer.drain(timeout=120), "the spool was not replayed"
    recovered_s = time.monotonic() - killed
    after = stock_events(5_000)
    after_handles = [producer.emit(e) for e in after]
    assert producer.flush(60) == 0 and all(h.status is DeliveryStatus.ACKNOWLEDGED for h in after_handles)
    assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles)
    assert metric(registry, "floodwall_producer_client_restarts_total", reason="outage") >= 1
    assert metric(registry, "floodwall_producer_online") == 1
    # The wipe took the acknowledged events with it: the broker's loss, which no producer can undo.
    repeats = assert_all_in_key_order(settings, [*spooled, *after])
    print(
        f"\nwipe: statuses after flush {statuses}, broker restart {restart_s:.1f} s, kill to drained "
        f"{recovered_s:.1f} s, repeats {repeats}"
    )


def wipe(log_dir: Path) -> None:
    for child in log_dir.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()

"""Dead letters on the real stack: a letter for a cause that is then fixed is listed, shown and replayed
(twice) through the real command line and applied exactly once; an oversized letter goes through cut
down; an unwritable dead-letter topic pauses the partition without committing past it, and the consumer
resumes once the topic exists."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fastavro
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.dlq import DeadLetterQueue
from floodwall.consumers.dlq_io import DlqReader
from floodwall.consumers.letters import DeadLetter, StoredLetter
from floodwall.consumers.loop import SinkConsumer
from floodwall.events.model import InventoryEvent, OrderEvent, OrderItem
from floodwall.offsets import read_group_positions
from floodwall.schemas.framing import fingerprint64, frame
from floodwall.schemas.registry import SchemaRegistry, package_dirs
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import floodwall, wait_until
from tests.integration.conftest import RunningStack
from tests.integration.kafka_reading import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka(stack: RunningStack) -> tuple[str, str]:
    layout = Layout(stack.settings)
    return layout.bootstrap_servers, layout.write_dsn()


def names(prefix: str) -> tuple[str, str, str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"{prefix}-orders-{suffix}", f"{prefix}-inventory-{suffix}", f"{prefix}-dlq-{suffix}", suffix


def scalar(dsn: str, query: str, *params: object) -> Any:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        return row[0] if row else None


def processed(dsn: str, event_id: object) -> int:
    return int(scalar(dsn, "SELECT count(*) FROM processed_events WHERE event_id = %s", str(event_id)))


def stored_offset(dsn: str, group: str, topic: str, partition: int = 0) -> int | None:
    query = "SELECT next_offset FROM sink_offsets WHERE consumer_group = %s AND topic = %s AND partition = %s"
    value = scalar(dsn, query, group, topic, partition)
    return None if value is None else int(value)


def log_end(bootstrap: str, topic: str, partition: int = 0) -> int:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}"})
    try:
        return int(reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1])
    finally:
        reader.close()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], **conf: object) -> list[int]:
    """Raw records (key, value) with a header each; returns their timestamps (ms)."""
    producer = Producer({"bootstrap.servers": bootstrap, **conf})
    stamps: list[int] = []
    for key, value in records:
        stamp = int(time.time() * 1000) - 60_000  # a minute old: the letter must keep it, not take now
        producer.produce(topic, value, key, headers=[("traceparent", b"00-test-01")], timestamp=stamp)
        stamps.append(stamp)
    assert producer.flush(30) == 0
    return stamps


@contextmanager
def consuming(settings: ConsumerSettings, dsn: str, registry: SchemaRegistry | None = None) -> Iterator[
    tuple[SinkConsumer, threading.Thread]
]:  # fmt: skip
    consumer = SinkConsumer(settings, dsn, registry=registry)
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        yield consumer, worker
    finally:
        consumer.stop()
        worker.join(timeout=30)


def consumer_settings(
    bootstrap: str, group: str, topics: tuple[str, str, str], **extra: object
) -> ConsumerSettings:
    return load_settings(ConsumerSettings, {
        "bootstrap_servers": bootstrap, "group_id": group, "orders_topic": topics[0],
        "inventory_topic": topics[1], "dlq_topic": topics[2], "metrics_port": 0, **extra})  # fmt: skip


def dlq_cli(bootstrap: str, topics: tuple[str, str, str], *args: str) -> str:
    result = floodwall("dlq", *args, "--bootstrap-servers", bootstrap, "--orders-topic", topics[0],
                       "--inventory-topic", topics[1], "--dlq-topic", topics[2], timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


# ---- a schema deployed late ---------------------------------------------------------------------


def newer_order_schema(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A released dir holding the shipped versions plus order_event v99: one more optional field, as a
    producer upgraded before the consumers would write it."""
    current, released = package_dirs()
    raw = json.loads((current / "order_event.avsc").read_text())
    raw["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
    folder = tmp_path / "released"
    folder.mkdir()
    for path in released.iterdir():
        if path.name.endswith(".avsc"):
            (folder / path.name).write_text(path.read_text())
    (folder / "order_event.v99.avsc").write_text(json.dumps(raw))
    return folder, raw


def test_a_letter_for_a_schema_deployed_late_is_listed_shown_and_applied_once_after_two_replays(
    stack: RunningStack, kafka: tuple[str, str], tmp_path: Path
) -> None:
    bootstrap, dsn = kafka
    orders, inventory, dlq, suffix = names("late")
    topics = (orders, inventory, dlq)
    ensure_topics(bootstrap, list(topics), 2)
    group = f"late-{suffix}"
    released, raw = newer_order_schema(tmp_path)
    event = OrderEvent.placed(order_id=uuid.uuid4(), customer_id="c", region="eu", currency="EUR",
                              items=[OrderItem(sku="S", quantity=1, unit_price_minor=100)])  # fmt: skip
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(raw), {**event.to_record(), "channel": "app"})
    newer = frame(fingerprint64(raw), body.getvalue())
    marker = OrderEvent.placed(order_id=uuid.uuid4(), customer_id="c", region="eu", currency="EUR",
                               items=[OrderItem(sku="S", quantity=1, unit_price_minor=1)])  # fmt: skip
    current = SchemaRegistry.default().encoder("order_event")(marker.to_record())
    (stamp, _) = produce(bootstrap, orders, [(event.key(), newer), (marker.key(), current)])

    settings = consumer_settings(bootstrap, group, topics)
    with consuming(settings, dsn):  # today's consumers: v99 unknown
        wait_until("the known event to land", lambda: processed(dsn, marker.event_id) == 1)
        wait_until("the dead letter", lambda: len(read_topic(bootstrap, dlq, 1, timeout_s=2)) == 1)
    assert processed(dsn, event.event_id) == 0

    listing = json.loads(dlq_cli(bootstrap, topics, "list", "--entries", "--json"))
    assert [(r["error_class"], r["count"]) for r in listing["reasons"]] == [("UnknownFingerprint", 1)]
    (entry,) = listing["entries"]
    assert entry["source_topic"] == orders and entry["timestamp_ms"] == stamp  # the original's timestamp
    assert entry["event_id"] is None  # not decodable with the schemas this floodwall knows
    text = dlq_cli(bootstrap, topics, "list")
    assert "UnknownFingerprint  1" in text
    shown = dlq_cli(bootstrap, topics, "show", entry["letter"])
    assert "traceparent: 00-test-01" in shown  # the original headers
    assert f"floodwall.schema.fingerprint: {fingerprint64(raw).hex()}" in shown
    assert f"floodwall.source.timestamp: {stamp}" in shown
    assert "not decodable now (UnknownFingerprint" in shown

    # The fix: consumers upgraded with the released v99 schema. Replaying is dry first, then twice.
    end_before = sum(log_end(bootstrap, orders, p) for p in (0, 1))
    dry = dlq_cli(bootstrap, topics, "replay", "--reason", "UnknownFingerprint", "--dry-run")
    assert "dry run: would replay 1 dead letter(s)" in dry
    assert sum(log_end(bootstrap, orders, p) for p in (0, 1)) == end_before, "a dry run sent something"
    for _ in range(2):
        out = dlq_cli(bootstrap, topics, "replay", "--reason", "UnknownFingerprint")
        assert f"replayed 1 dead letter(s) ({orders} 1)" in out
    upgraded = SchemaRegistry.from_dirs(package_dirs()[0], released)
    with consuming(settings, dsn, registry=upgraded) as (consumer, _):
        wait_until("the replayed event to land", lambda: processed(dsn, event.event_id) == 1)
        ends = {p: log_end(bootstrap, orders, p) for p in (0, 1)}
        wait_until("both replays to be consumed", lambda: all(
            (stored_offset(dsn, group, orders, p) or 0) == end for p, end in ends.items()))  # fmt: skip
    assert processed(dsn, event.event_id) == 1
    assert scalar(dsn, "SELECT count(*) FROM orders WHERE order_id = %s", str(event.order_id)) == 1
    assert consumer.totals.duplicates == 1  # the second replay, dropped by event id
    assert len(read_topic(bootstrap, dlq, 2, timeout_s=3)) == 1, "a replay was dead-lettered again"


# ---- an oversized dead letter -------------------------------------------------------------------


def test_oversized_dead_letters_go_through_cut_down_and_the_consumer_keeps_going(
    stack: RunningStack, kafka: tuple[str, str]
) -> None:
    bootstrap, dsn = kafka
    orders, inventory, dlq, suffix = names("big")
    topics = (orders, inventory, dlq)
    ensure_topics(bootstrap, [orders, inventory], 1)
    ensure_topics(bootstrap, [dlq], 1, config={"max.message.bytes": "20000"})  # the broker refuses more
    after = InventoryEvent.restock(sku=f"S-{suffix}", warehouse="w", quantity=1)
    encode = SchemaRegistry.default().encoder("inventory_event")
    records = [
        (b"k", b"\x00" * 50_000),  # over the DLQ topic's limit: refused by the broker
        (b"k", b"\x00" * 999_800),  # over the DLQ producer's message.max.bytes once headers are added
        (after.key(), encode(after.to_record())),
    ]
    produce(bootstrap, inventory, records, **{"message.max.bytes": 1_048_576})
    with consuming(consumer_settings(bootstrap, f"big-{suffix}", topics), dsn) as (_, worker):
        wait_until("the event after the oversized ones", lambda: processed(dsn, after.event_id) == 1)
        assert worker.is_alive()
    letters = read_letters(bootstrap, dlq)
    assert [(lt.source_offset, lt.truncated, len(lt.value)) for lt in letters] == [
        (0, "value", 1024), (1, "value", 1024)]  # fmt: skip
    assert [lt.header("floodwall.original.size") for lt in letters] == ["50000", "999800"]
    assert all(lt.header("traceparent") == "00-test-01" for lt in letters)
    text = dlq_cli(bootstrap, topics, "list")
    assert "MalformedMessage  2" in text
    refused = floodwall("dlq", "replay", "--all", "--bootstrap-servers", bootstrap, "--orders-topic", orders,
                        "--inventory-topic", inventory, "--dlq-topic", dlq)  # fmt: skip
    assert refused.returncode == 1 and "none replayable (truncated" in refused.stderr


def read_letters(bootstrap: str, topic: str) -> list[StoredLetter]:
    with DlqReader(bootstrap, {}, topic, 10) as reader:
        return sorted(reader.letters(), key=lambda lt: lt.source_offset or 0)


# ---- an unwritable dead-letter topic -------------------------------------------------------------


def test_an_unwritable_dlq_pauses_the_partition_commits_nothing_past_it_and_resumes_once_it_exists(
    stack: RunningStack, kafka: tuple[str, str]
) -> None:
    bootstrap, dsn = kafka
    orders, inventory, dlq, suffix = names("gone")
    topics = (orders, inventory, dlq)
    ensure_topics(bootstrap, [orders, inventory], 1)  # the DLQ topic is missing (auto-create is off)
    group = f"gone-{suffix}"
    encode = SchemaRegistry.default().encoder("inventory_event")
    before, after = (InventoryEvent.restock(sku=f"S-{suffix}", warehouse="w", quantity=1) for _ in range(2))
    produce(bootstrap, inventory, [(before.key(), encode(before.to_record())), (b"k", b"\x00poison"),
                                   (after.key(), encode(after.to_record()))])  # fmt: skip
    settings = consumer_settings(bootstrap, group, topics, dlq_timeout_s=3)
    with consuming(settings, dsn) as (consumer, worker):
        registry = consumer.metrics_registry

        def stalled() -> float | None:
            labels = {"topic": inventory, "partition": "0"}
            return registry.get_sample_value("floodwall_consumer_dead_letter_stalled", labels)

        wait_until("the partition to stall", lambda: stalled() == 1)
        assert (registry.get_sample_value("floodwall_consumer_dead_letter_failures_total") or 0) >= 1
        assert (stored_offset(dsn, group, inventory) or 0) <= 1, "committed past the unwritten dead letter"
        assert processed(dsn, after.event_id) == 0
        (position,) = read_group_positions(
            AdminClient({"bootstrap.servers": bootstrap}), group, [inventory], 10
        )
        assert (position.committed_offset or 0) <= 1, "Kafka commit past the dead letter"
        assert worker.is_alive()

        ensure_topics(bootstrap, [dlq], 1)
        wait_until("the event after the letter", lambda: processed(dsn, after.event_id) == 1, timeout_s=150)
        assert stalled() is None and worker.is_alive()
    assert processed(dsn, before.event_id) == 1
    assert stored_offset(dsn, group, inventory) == 3
    letters = read_letters(bootstrap, dlq)  # at least once: an attempt that timed out may have landed too
    assert letters and {(lt.source_offset, lt.error_class) for lt in letters} == {(1, "MalformedMessage")}


# ---- retention ----------------------------------------------------------------------------------


def retention_ms(bootstrap: str, topic: str) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    configs = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=15)
    return str(configs["retention.ms"].value)


def test_the_dlq_topic_has_explicit_retention_also_set_on_an_existing_topic(
    stack: RunningStack, kafka: tuple[str, str]
) -> None:
    bootstrap, _ = kafka
    assert retention_ms(bootstrap, stack.settings.dlq_topic) == str(14 * 86_400_000)  # `stack up`'s default
    orders, inventory, dlq, _ = names("keep")
    ensure_topics(bootstrap, [dlq], 1)  # an existing DLQ with the broker's default retention
    assert retention_ms(bootstrap, dlq) != str(3 * 86_400_000)
    result = floodwall("topics", "create", "--bootstrap-servers", bootstrap, "--orders-topic", orders,
                       "--inventory-topic", inventory, "--dlq-topic", dlq, "--dlq-retention-days", "3",
                       "--partitions", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"topic {dlq}: exists, 1 partitions, retention 3 days" in result.stdout
    assert retention_ms(bootstrap, dlq) == str(3 * 86_400_000)
    assert retention_ms(bootstrap, orders) != str(3 * 86_400_000)  # only the DLQ's is set


def test_a_full_producer_queue_is_drained_and_every_letter_lands(kafka: tuple[str, str]) -> None:
    """A DLQ client whose queue holds one message: every further letter meets a full queue and is
    retried after the client has served its delivery reports; all of them land, none is raised."""
    bootstrap, _ = kafka
    orders, inventory, dlq_topic, suffix = names("dlqfull")
    ensure_topics(bootstrap, [orders, inventory, dlq_topic], partitions=1)
    dlq = DeadLetterQueue(bootstrap, dlq_topic, f"g-{suffix}", timeout_s=30,
                          connection={"queue.buffering.max.messages": "1"})  # fmt: skip
    letters = [DeadLetter(topic=orders, partition=0, offset=n, key=b"k", value=b"v%d" % n,
                          error_class="MalformedMessage", message="bad") for n in range(20)]  # fmt: skip
    dlq.send(letters)
    dlq.close()
    landed = read_letters(bootstrap, dlq_topic)
    assert sorted(letter.value for letter in landed) == sorted(letter.value for letter in letters)

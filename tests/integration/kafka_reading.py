"""Reading topics back in tests with plain confluent-kafka and plain fastavro: no SDK code on this side."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from fastavro.schema import fingerprint, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"


def load_schema(name: str) -> tuple[bytes, Any]:
    """(8-byte little-endian CRC-64-AVRO fingerprint, parsed schema) of a schema file, by plain fastavro."""
    raw = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    parsed = fastavro.parse_schema(raw)
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")), parsed


def decode_single_object(data: bytes, expected_fingerprint: bytes, schema: Any) -> dict[str, Any]:
    """Avro single-object encoding per the spec: C3 01, 8-byte fingerprint, Avro binary body."""
    assert data[:2] == b"\xc3\x01", f"bad marker {data[:2]!r}"
    assert data[2:10] == expected_fingerprint, "unexpected writer-schema fingerprint"
    body = io.BytesIO(data[10:])
    record: dict[str, Any] = fastavro.schemaless_reader(body, schema, None)  # type: ignore[assignment]
    assert body.read() == b"", "trailing bytes after the Avro body"
    return record


@dataclass(frozen=True)
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 60.0) -> list[Read]:
    """Every message of ``topic`` from the beginning, until ``expect`` have been seen (or timeout)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-reader-{time.monotonic_ns()}",
                        "enable.auto.commit": False})  # fmt: skip
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        found: list[Read] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < expect and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                if msg.error() is None:
                    found.append(Read(msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value() or b""))
        return found
    finally:
        consumer.close()


def wait_group_assigned(bootstrap: str, group: str, timeout_s: float = 60.0) -> int:
    """Wait until some member of ``group`` owns partitions (the first join is done); returns how many."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            description = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
            owned = sum(len(m.assignment.topic_partitions) for m in description.members)
        except KafkaException:
            owned = 0  # the group does not exist yet
        if owned:
            return owned
        assert time.monotonic() < deadline, f"no member of group {group} was assigned partitions"
        time.sleep(0.2)

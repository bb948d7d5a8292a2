"""The schema registry against plain fastavro and hand-made framing: interop both ways, errors, evolution."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest

from floodwall.schemas.errors import IncompatibleSchema, MalformedMessage, SchemaError, UnknownFingerprint
from floodwall.schemas.registry import SchemaRegistry
from tests.unit.test_schema_framing import hand_fingerprint

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ORDER_ID = uuid.UUID("6f1c1c3e-2d55-4a4b-9d8e-0b7a3f6c9e21")
EVENT_ID = uuid.UUID("0b5f6c4e-9a51-4a4f-8c55-8d1f0a3b2c1d")
OCCURRED = datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)


def order_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": str(EVENT_ID),
        "event_type": "placed",
        "occurred_at": OCCURRED,
        "order_id": str(ORDER_ID),
        "customer_id": "cust-42",
        "region": "eu-west",
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "quantity": 1, "unit_price_minor": 1999},
            {"sku": "SKU-ü", "quantity": 2, "unit_price_minor": 0},
            {"sku": "SKU-3", "quantity": 300, "unit_price_minor": 2**40},
        ],
        "amount_minor": 1999 + 300 * 2**40,
        "reason": None,
    }
    record.update(changes)
    return record


def raw_schema(name: str, directory: str = "avro") -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((REPO_SCHEMAS / directory / f"{name}.avsc").read_text())
    return raw


def hand_message(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    """A single-object message made without the code under test: spec framing, plain fastavro body."""
    body = BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return b"\xc3\x01" + hand_fingerprint(schema) + body.getvalue()


@pytest.fixture
def registry() -> SchemaRegistry:
    return SchemaRegistry.default()


def test_default_registry_knows_the_shipped_schemas(registry: SchemaRegistry) -> None:
    assert registry.names() == ["inventory_event", "order_event"]
    order = registry.current("order_event")
    assert (order.name, order.full_name, order.version) == (
        "order_event",
        "floodwall.events.OrderEvent",
        None,
    )
    assert order.fingerprint == hand_fingerprint(raw_schema("order_event"))
    assert order.raw == raw_schema("order_event")
    assert [(s.name, s.version) for s in registry.released()] == [("inventory_event", 1), ("order_event", 1)]
    assert SchemaRegistry.default() is registry


def test_unknown_name_is_a_schema_error_naming_the_known_ones(registry: SchemaRegistry) -> None:
    with pytest.raises(SchemaError, match="'refund_event'; known: inventory_event, order_event"):
        registry.current("refund_event")
    with pytest.raises(SchemaError, match="refund_event"):
        registry.encoder("refund_event")


def test_hand_framed_message_is_decoded_field_for_field(registry: SchemaRegistry) -> None:
    record = order_record(event_type="cancelled", reason="out of stock", occurred_at=1_741_964_966_535_897)
    decoded = registry.decode(hand_message(raw_schema("order_event"), record))
    assert decoded.name == "order_event"
    assert decoded.writer is registry.current("order_event")
    # Logical types come back as Python objects: uuid -> UUID, timestamp-micros -> aware datetime.
    expected = {**record, "event_id": EVENT_ID, "order_id": ORDER_ID, "occurred_at": OCCURRED}
    assert decoded.record == expected
    assert list(decoded.record) == list(expected)


def test_hand_framed_inventory_event_is_decoded(registry: SchemaRegistry) -> None:
    record = {
        "event_id": str(EVENT_ID),
        "kind": "reservation",
        "occurred_at": OCCURRED,
        "sku": "SKU-1",
        "warehouse": "fra-1",
        "quantity": -3,
        "order_id": str(ORDER_ID),
    }
    decoded = registry.decode(hand_message(raw_schema("inventory_event"), record))
    assert decoded.name == "inventory_event"
    assert decoded.record == {**record, "event_id": EVENT_ID, "order_id": ORDER_ID}


def test_encoder_output_is_read_by_plain_fastavro_and_hand_framing(registry: SchemaRegistry) -> None:
    record = order_record(event_id=EVENT_ID, reason="duplicate")
    message = registry.encoder("order_event")(record)
    raw = raw_schema("order_event")
    assert message[:2] == b"\xc3\x01"
    assert message[2:10] == hand_fingerprint(raw)
    body = BytesIO(message[10:])
    read = fastavro.schemaless_reader(body, fastavro.parse_schema(raw), None)
    assert body.tell() == len(message) - 10  # nothing left over
    assert read == {**record, "event_id": EVENT_ID, "order_id": ORDER_ID}


def test_encoder_round_trips_through_decode_and_fills_defaults(registry: SchemaRegistry) -> None:
    record = order_record()
    del record["reason"]  # has a default (null)
    decoded = registry.decode(registry.encoder("order_event")(record))
    assert decoded.record["reason"] is None
    assert decoded.record["items"] == record["items"]


def test_encoder_rejects_a_record_that_does_not_fit(registry: SchemaRegistry) -> None:
    encode = registry.encoder("order_event")
    bad_item = {"sku": "SKU-1", "quantity": "3", "unit_price_minor": 1}
    with pytest.raises(SchemaError, match=r"order_event: .*OrderItem\.quantity"):
        encode(order_record(items=[bad_item]))
    with pytest.raises(SchemaError, match="event_type"):
        encode(order_record(event_type="shipped"))


def test_unknown_fingerprint(registry: SchemaRegistry) -> None:
    other = {"type": "record", "name": "Refund", "fields": [{"name": "id", "type": "long"}]}
    message = hand_message(other, {"id": 1})
    with pytest.raises(UnknownFingerprint) as caught:
        registry.decode(message)
    assert caught.value.fingerprint == message[2:10] == hand_fingerprint(other)
    assert message[2:10].hex() in str(caught.value)


def test_truncated_messages_are_malformed(registry: SchemaRegistry) -> None:
    message = registry.encoder("order_event")(order_record(reason="r"))
    for length in range(len(message)):
        with pytest.raises(MalformedMessage):
            registry.decode(message[:length])


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda m: b"", "too short"),
        (lambda m: m[:9], "too short"),
        (lambda m: b"\xc3\x00" + m[2:], "marker c300"),
        (lambda m: b"\x00" + m, "marker 00c3"),
        (lambda m: m + b"\x00", "1 unread bytes"),
        (lambda m: m + b"garbage!", "8 unread bytes"),
        (lambda m: m[:10] + b"\xff" * 12, "malformed"),
    ],
)
def test_malformed_messages(registry: SchemaRegistry, mangle: Callable[[bytes], bytes], reason: str) -> None:
    message = registry.encoder("order_event")(order_record())
    with pytest.raises(MalformedMessage, match=reason):
        registry.decode(mangle(message))


def test_corrupted_bodies_never_escape_as_fastavro_errors(registry: SchemaRegistry) -> None:
    message = bytearray(registry.encoder("order_event")(order_record(reason="why")))
    rnd = random.Random(7)
    outcomes = {"decoded": 0, "malformed": 0}
    for _ in range(3000):
        corrupted = bytearray(message)
        for _ in range(rnd.randint(1, 3)):
            corrupted[rnd.randrange(10, len(corrupted))] = rnd.randrange(256)
        try:
            registry.decode(bytes(corrupted))
            outcomes["decoded"] += 1
        except MalformedMessage:
            outcomes["malformed"] += 1
    assert outcomes["malformed"] > 1000


def evolved_dirs(tmp_path: Path, old_schema: dict[str, Any]) -> tuple[Path, Path]:
    current, released = tmp_path / "avro", tmp_path / "released"
    shutil.copytree(REPO_SCHEMAS / "avro", current)
    released.mkdir()
    (released / "order_event.v1.avsc").write_text(json.dumps(old_schema))
    return current, released


def test_data_of_an_older_writer_is_read_with_the_current_schema(tmp_path: Path) -> None:
    old = raw_schema("order_event")
    old["fields"] = [f for f in old["fields"] if f["name"] != "reason"]
    old["fields"][-1]["type"] = "int"  # amount_minor was an int: promoted to long on read
    registry = SchemaRegistry.from_dirs(*evolved_dirs(tmp_path, old))
    record = order_record(amount_minor=2**31 - 1)
    del record["reason"]
    decoded = registry.decode(hand_message(old, record))
    assert decoded.writer.version == 1
    assert decoded.writer.fingerprint == hand_fingerprint(old) != registry.current("order_event").fingerprint
    assert decoded.record["reason"] is None  # the current schema's default
    assert decoded.record["amount_minor"] == 2**31 - 1
    assert decoded.record["occurred_at"] == OCCURRED


def test_data_the_current_schema_cannot_read_is_incompatible(tmp_path: Path) -> None:
    old = raw_schema("order_event")
    old["fields"][1]["type"]["symbols"].append("shipped")
    registry = SchemaRegistry.from_dirs(*evolved_dirs(tmp_path, old))
    registry.decode(hand_message(old, order_record(event_type="paid")))  # known symbols still read
    with pytest.raises(IncompatibleSchema, match="shipped"):
        registry.decode(hand_message(old, order_record(event_type="shipped")))


def test_released_schema_without_current_schema_cannot_be_decoded(tmp_path: Path) -> None:
    other = {"type": "record", "name": "Refund", "fields": [{"name": "id", "type": "long"}]}
    current, released = evolved_dirs(tmp_path, raw_schema("order_event"))
    (released / "refund_event.v3.avsc").write_text(json.dumps(other))
    registry = SchemaRegistry.from_dirs(current, released)
    with pytest.raises(IncompatibleSchema, match="refund_event v3 has no current schema"):
        registry.decode(hand_message(other, {"id": 5}))


@pytest.mark.parametrize(
    ("file_name", "content", "reason"),
    [
        ("order_event.v1.avsc", "{}", "must be named <name>.avsc"),
        ("broken.avsc", "{not json", "cannot read schema"),
        ("number.avsc", '"int"', "must be a JSON object of type record"),
        (
            "bad.avsc",
            '{"type": "record", "name": "B", "fields": [{"name": "x", "type": "nope"}]}',
            "not a valid",
        ),
        ("twin.avsc", json.dumps(raw_schema("order_event")), "define record floodwall.events.OrderEvent"),
    ],
)
def test_invalid_schema_directories(tmp_path: Path, file_name: str, content: str, reason: str) -> None:
    current, released = evolved_dirs(tmp_path, raw_schema("order_event"))
    (current / file_name).write_text(content)
    with pytest.raises(SchemaError, match=reason):
        SchemaRegistry.from_dirs(current, released)


def test_missing_or_empty_directories(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="does not exist"):
        SchemaRegistry.from_dirs(tmp_path / "nope", tmp_path)
    with pytest.raises(SchemaError, match="no current schemas"):
        SchemaRegistry.from_dirs(tmp_path, tmp_path)
    (tmp_path / "released").mkdir()
    (tmp_path / "released" / "order_event.avsc").write_text("{}")
    with pytest.raises(SchemaError, match=r"must be named <name>\.v<N>\.avsc"):
        SchemaRegistry.from_dirs(REPO_SCHEMAS / "avro", tmp_path / "released")


def test_schemas_the_fast_writer_declines_are_written_by_fastavro(tmp_path: Path) -> None:
    (tmp_path / "choice.avsc").write_text(
        json.dumps(
            {"type": "record", "name": "Choice", "fields": [{"name": "v", "type": ["null", "int", "string"]}]}
        )
    )
    (tmp_path / "released").mkdir()
    registry = SchemaRegistry.from_dirs(tmp_path, tmp_path / "released")
    encode = registry.encoder("choice")
    for value in (None, 5, "five"):
        assert registry.decode(encode({"v": value})).record == {"v": value}
    with pytest.raises(SchemaError, match="cannot encode choice"):
        encode({"v": 1.5})

"""floodwall/events/codec.py: the one serializer/deserializer pair every role uses, and its typed errors."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from confluent_kafka import SerializingProducer
from confluent_kafka.serialization import Deserializer, MessageField, SerializationContext, Serializer

from floodwall.events import (
    AdjustmentKind,
    EventDeserializer,
    EventSerializer,
    EventValidationError,
    InventoryEvent,
    OrderEvent,
    OrderItem,
    RecordError,
    event_from_record,
)
from floodwall.schemas.errors import DecodeError, MalformedMessage, SchemaError, UnknownFingerprint
from floodwall.schemas.framing import MARKER

MOMENT = datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=UTC)


def placed(currency: str = "EUR") -> OrderEvent:
    return OrderEvent.placed(order_id=uuid4(), customer_id="c-1", region="eu", currency=currency,
                             items=[OrderItem(sku="A", quantity=2, unit_price_minor=499)],
                             occurred_at=MOMENT)  # fmt: skip


def reservation(quantity: int = 3) -> InventoryEvent:
    return InventoryEvent.reservation(sku="A", warehouse="w1", quantity=quantity, order_id=uuid4(),
                                      occurred_at=MOMENT)  # fmt: skip


@pytest.mark.parametrize(
    "event",
    [
        placed(),
        OrderEvent.paid(order_id=uuid4(), customer_id="c", region="eu", currency="JPY", amount_minor=7),
        OrderEvent.cancelled(order_id=uuid4(), customer_id="c", region="eu", currency="EUR", reason="r"),
        reservation(),
        InventoryEvent.restock(sku="B", warehouse="w", quantity=5),
        InventoryEvent.correction(sku="B", warehouse="w", delta=-2),
    ],
)
def test_what_the_serializer_writes_the_deserializer_reads_back_equal(
    event: OrderEvent | InventoryEvent,
) -> None:
    wire = EventSerializer()(event)
    assert wire[:2] == MARKER
    assert EventDeserializer()(wire) == event


def test_both_are_confluent_kafka_serializers_and_take_a_context() -> None:
    serialize, deserialize = EventSerializer(), EventDeserializer()
    assert isinstance(serialize, Serializer)
    assert isinstance(deserialize, Deserializer)
    ctx = SerializationContext("orders", MessageField.VALUE)
    event = placed()
    assert deserialize(serialize(event, ctx), ctx) == event
    # and confluent-kafka's SerializingProducer accepts it as its value serializer
    SerializingProducer({"bootstrap.servers": "127.0.0.1:1", "value.serializer": serialize})


def test_an_invalid_event_is_refused_before_encoding_with_every_problem_and_its_id() -> None:
    event = placed(currency="XXX")
    with pytest.raises(EventValidationError) as refused:
        EventSerializer()(event)
    assert [p.path for p in refused.value.problems] == ["currency"]
    assert refused.value.event_id == str(event.event_id)
    assert refused.value.reasons == str(refused.value.problems[0])


def test_a_non_event_is_a_validation_error_or_a_type_error_without_validation() -> None:
    with pytest.raises(EventValidationError, match="must be an OrderEvent or InventoryEvent"):
        EventSerializer()("order")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an order or inventory event"):
        EventSerializer(validate=False)("order")  # type: ignore[arg-type]


def test_the_deserializer_validates_what_an_unvalidating_writer_let_through() -> None:
    event = placed(currency="XXX")
    wire = EventSerializer(validate=False)(event)
    with pytest.raises(EventValidationError) as refused:
        EventDeserializer()(wire)
    assert refused.value.event_id == str(event.event_id)
    assert EventDeserializer(validate=False)(wire) == event


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"not avro", MalformedMessage),
        (None, MalformedMessage),
        (MARKER + b"\x00" * 8 + b"\x02", UnknownFingerprint),
    ],
)
def test_bytes_that_are_not_our_events_are_decode_errors(wire: bytes | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        EventDeserializer()(wire)


def test_record_errors_are_decode_errors_so_one_except_clause_covers_the_wire() -> None:
    assert issubclass(RecordError, DecodeError)
    assert issubclass(RecordError, SchemaError)


@pytest.mark.parametrize(
    ("name", "record"),
    [("order_event", {"event_type": "placed"}), ("inventory_event", {"kind": "teleport"}), ("other", {})],
)
def test_incomplete_records_are_record_errors(name: str, record: dict[str, object]) -> None:
    with pytest.raises(RecordError):
        event_from_record(name, record)


def test_the_stock_sign_is_the_kinds_and_only_a_reservation_takes_stock() -> None:
    assert {kind: kind.sign for kind in AdjustmentKind} == {
        AdjustmentKind.RESTOCK: 1,
        AdjustmentKind.RESERVATION: -1,
        AdjustmentKind.RELEASE: 1,
        AdjustmentKind.CORRECTION: 1,
    }
    assert reservation(3).stock_delta == -3
    assert InventoryEvent.correction(sku="A", warehouse="w", delta=-4).stock_delta == -4
    assert InventoryEvent.release(sku="A", warehouse="w", quantity=2, order_id=uuid4()).stock_delta == 2

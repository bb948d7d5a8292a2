"""consumers/decoder.py: messages → spans, valid events and dead letters, without any I/O."""

from __future__ import annotations

from uuid import uuid4

from confluent_kafka import KafkaError, Message

from floodwall.consumers.decoder import decode_batch
from floodwall.consumers.sink import Poisoned, Span
from floodwall.events.codec import EventDeserializer, EventSerializer
from floodwall.events.model import OrderEvent, OrderItem

ENCODE = EventSerializer(validate=False)  # the invalid events are the point of some tests
DECODE = EventDeserializer()


def order(currency: str = "EUR") -> bytes:
    event = OrderEvent.placed(order_id=uuid4(), customer_id="c", region="eu", currency=currency,
                              items=[OrderItem(sku="A", quantity=1, unit_price_minor=5)])  # fmt: skip
    return ENCODE(event)


def msg(offset: int, value: bytes, partition: int = 0) -> Message:
    return Message(topic="orders", partition=partition, offset=offset, value=value, key=b"k")


def test_valid_events_invalid_events_and_garbage_are_sorted_apart() -> None:
    batch = decode_batch([msg(5, order()), msg(6, b"not avro"), msg(7, order("XXX"))], {}, DECODE)
    assert [i.offset for i in batch.events] == [5]
    assert [(x.offset, x.error_class) for x in batch.letters] == [
        (6, "MalformedMessage"), (7, "EventValidationError")
    ]  # fmt: skip
    assert "currency" in batch.letters[1].message and batch.letters[1].event_id is not None
    assert batch.span_list() == [Span("orders", 0, 5, 8)]  # the letters' offsets are covered too
    assert set(batch.raw) == {("orders", 0, 5)} and batch.misfits == []


def test_a_span_starts_at_the_stored_position_and_refetched_messages_are_dropped() -> None:
    batch = decode_batch([msg(3, order()), msg(4, order()), msg(9, order(), 1)], {("orders", 0): 4}, DECODE)
    assert [(i.partition, i.offset) for i in batch.events] == [(0, 4), (1, 9)]  # offset 3 was applied
    assert batch.spans == {("orders", 0): [4, 5], ("orders", 1): [9, 10]}


def test_a_fetch_that_left_the_log_is_a_misfit_not_an_event() -> None:
    gone = Message(topic="orders", partition=2, error=KafkaError(KafkaError._AUTO_OFFSET_RESET, "reset"))
    other = Message(topic="orders", partition=2, error=KafkaError(KafkaError._PARTITION_EOF, "eof"))
    batch = decode_batch([gone, other], {}, DECODE)
    assert batch.misfits == [(("orders", 2), "reset")]
    assert batch.spans == {} and batch.events == [] and batch.letters == []


def test_events_the_database_refused_become_letters_of_their_original_message() -> None:
    batch = decode_batch([msg(5, order()), msg(6, order())], {}, DECODE)
    letters = batch.refused_letters([Poisoned(batch.events[1], "CheckViolation", "violates a check")])
    assert [(x.offset, x.error_class, x.message) for x in letters] == [
        (6, "CheckViolation", "violates a check")
    ]
    assert letters[0].value == batch.raw[("orders", 0, 6)].value()
    assert letters[0].event_id == str(batch.events[1].event.event_id)

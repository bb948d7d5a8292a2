"""The events' wire codec: one symmetric pair, :class:`EventSerializer` and :class:`EventDeserializer`.

Every role turns events into Kafka values and back through this pair, so the SDK, the sink, the load
generator and ``floodwall produce`` cannot disagree on the format: a single-object-encoded Avro message
(``C3 01`` marker, the writer schema's CRC-64-AVRO fingerprint, the body; see
docs/sdk.md, "Schemas and compatibility") written with the current schema of the event's class and read
with the current schema of the writer's name.

Both are confluent-kafka serializers (``serializer(obj, ctx)``), so they also plug into its
``SerializingProducer``/``DeserializingConsumer``; the context is accepted and ignored, as the format does
not depend on the topic. Both raise typed errors, all :class:`~floodwall.errors.FloodwallError`:
:class:`~floodwall.events.validation.EventValidationError` (a field out of its domain),
:class:`~floodwall.schemas.errors.DecodeError` and its subclasses (bytes that are not one of our
messages), :class:`RecordError` (a decoded record that cannot be an event), and
:class:`~floodwall.schemas.errors.SchemaError` (an event the schema cannot hold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka.serialization import Deserializer, SerializationContext, Serializer

from floodwall.events.model import (
    AdjustmentKind,
    Event,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    OrderItem,
)
from floodwall.events.validation import EventValidationError, is_valid, problems, validate_many
from floodwall.schemas.errors import DecodeError
from floodwall.schemas.registry import SchemaRegistry

EVENT_CLASSES: tuple[type[OrderEvent], type[InventoryEvent]] = (OrderEvent, InventoryEvent)


class RecordError(DecodeError, ValueError):
    """A decoded record cannot be an event (a field missing or of the wrong kind)."""


class EventSerializer(Serializer):
    """Event → wire bytes. Thread-safe; built once per client (the encoders are prepared up front).

    With ``validate`` (the default) an invalid event raises EventValidationError listing every bad field
    and nothing is encoded; pass ``validate=False`` only where the event was validated already. Raises
    SchemaError if the event does not fit its schema (what validation lets by), TypeError for an object
    that is not an event (when not validating); the constructor raises SchemaError when the
    registry lacks a current schema of an event class.
    """

    __slots__ = ("_encoders", "_validate")

    def __init__(self, registry: SchemaRegistry | None = None, *, validate: bool = True) -> None:
        registry = registry or SchemaRegistry.default()
        # to_record() holds the primitive values of the logical types: the cheaper encoder, same bytes.
        self._encoders: dict[type, Callable[[Mapping[str, Any]], bytes]] = {
            cls: registry.primitive_encoder(cls.schema_name) for cls in EVENT_CLASSES
        }
        self._validate = validate

    def __call__(self, obj: Event, ctx: SerializationContext | None = None) -> bytes:
        if self._validate and not is_valid(obj):
            raise EventValidationError(problems(obj), event_id=getattr(obj, "event_id", None))
        return self.encode(obj)

    def many(self, events: Sequence[Event]) -> list[bytes]:
        """The wire bytes of every event, in order. All are validated before any is encoded: raises
        BatchValidationError naming every bad event by its index (when validating), SchemaError or
        TypeError as a single call does."""
        if self._validate:
            validate_many(events)
        encode = self.encode
        return [encode(event) for event in events]

    def encode(self, obj: Event) -> bytes:
        """The wire bytes of ``obj`` without validating it (see the class docstring for what it raises)."""
        encoder = self._encoders.get(type(obj))
        if encoder is None:
            raise TypeError(f"not an order or inventory event: {type(obj).__name__}")
        return encoder(obj.to_record())


class EventDeserializer(Deserializer):
    """Wire bytes → the typed event. Thread-safe (the registry is immutable).

    Raises DecodeError (MalformedMessage, UnknownFingerprint), IncompatibleSchema or RecordError when the
    bytes are not one of our events, and, with ``validate`` (the default), EventValidationError when the
    event decodes but a field is out of its domain (its ``event_id`` is set, for the dead letter).
    """

    __slots__ = ("_registry", "_validate")

    def __init__(self, registry: SchemaRegistry | None = None, *, validate: bool = True) -> None:
        self._registry = registry or SchemaRegistry.default()
        self._validate = validate

    def __call__(self, value: bytes | None, ctx: SerializationContext | None = None) -> Event:
        decoded = self._registry.decode(value or b"")
        event = event_from_record(decoded.name, decoded.record)
        if self._validate and not is_valid(event):  # the fast path of the common valid event
            raise EventValidationError(problems(event), event_id=event.event_id)
        return event


def event_from_record(schema_name: str, record: Mapping[str, Any]) -> Event:
    """The event a decoded record of ``schema_name`` describes (the inverse of ``event.to_record()``
    read back through the schema's logical types). Raises RecordError."""
    try:
        if schema_name == OrderEvent.schema_name:
            return OrderEvent(
                event_type=OrderEventType(record["event_type"]),
                order_id=record["order_id"],
                customer_id=record["customer_id"],
                region=record["region"],
                currency=record["currency"],
                items=tuple(OrderItem(**item) for item in record["items"]),
                amount_minor=record["amount_minor"],
                reason=record.get("reason"),
                event_id=record["event_id"],
                occurred_at=record["occurred_at"],
            )
        if schema_name == InventoryEvent.schema_name:
            return InventoryEvent(
                kind=AdjustmentKind(record["kind"]),
                sku=record["sku"],
                warehouse=record["warehouse"],
                quantity=record["quantity"],
                order_id=record.get("order_id"),
                event_id=record["event_id"],
                occurred_at=record["occurred_at"],
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{schema_name} record is incomplete: {type(exc).__name__}: {exc}") from None
    raise RecordError(f"no event type for schema {schema_name!r}")

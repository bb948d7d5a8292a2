"""The event model every role shares: typed order and inventory events (:mod:`.model`), their validation
(:mod:`.validation`), ISO 4217 currencies (:mod:`.currencies`) and the wire codec (:mod:`.codec`).

It sits in the contracts layer (docs/architecture.md): it imports the core and :mod:`floodwall.schemas`
only, and every role imports it. Applications import the names below from here::

    from floodwall.events import InventoryEvent, OrderEvent, OrderItem
"""

from floodwall.events.codec import EventDeserializer, EventSerializer, RecordError, event_from_record
from floodwall.events.model import (
    AdjustmentKind,
    Event,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    OrderItem,
    event_type_of,
)
from floodwall.events.validation import EventValidationError, FieldProblem, problems, validate

__all__ = [
    "AdjustmentKind",
    "Event",
    "EventDeserializer",
    "EventSerializer",
    "EventValidationError",
    "FieldProblem",
    "InventoryEvent",
    "OrderEvent",
    "OrderEventType",
    "OrderItem",
    "RecordError",
    "event_from_record",
    "event_type_of",
    "problems",
    "validate",
]

"""Field-level validation of events before anything is sent.

:func:`problems` lists *every* bad field of an event (not just the first), each with its path
(``items[1].quantity``) and what is allowed; :func:`validate` raises :class:`EventValidationError` with
all of them. Money must be integer minor units: a float is rejected, never rounded.

:func:`is_valid` is the fast path for the common, valid event: a few exact type and range tests that say
True only where :func:`problems` would find nothing; anything unusual (a subclass, non-ASCII text, any
bad field) goes to :func:`problems`, so the answer is always the full validator's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from floodwall.errors import FloodwallError
from floodwall.events.currencies import ISO_4217
from floodwall.events.model import (
    AdjustmentKind,
    Event,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    OrderItem,
    is_int,
)

MAX_ITEMS = 500
MAX_QUANTITY = 1_000_000
MAX_MINOR = 10**15  # a quadrillion minor units: far beyond any real order, far below int64
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class FieldProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class EventValidationError(FloodwallError, ValueError):
    """An event is invalid; ``problems`` names every bad field, ``event_id`` is the event's id when it has
    one (a dead letter carries it). Nothing of it was sent."""

    def __init__(self, problems: list[FieldProblem], event_id: object = None) -> None:
        self.problems = problems
        self.event_id = None if event_id is None else str(event_id)
        super().__init__("invalid event: " + self.reasons)

    @property
    def reasons(self) -> str:
        """The problems as one line, without the leading "invalid event: "."""
        return "; ".join(str(p) for p in self.problems)


def validate(event: Event) -> None:
    """Raise EventValidationError listing every bad field of ``event``."""
    found = problems(event)
    if found:
        raise EventValidationError(found)


class BatchValidationError(EventValidationError):
    """Some events of a batch are invalid. ``invalid`` maps the index of every bad event in the batch to
    its own EventValidationError (with the event's id); ``problems`` lists them all with the index in front
    of the path (``events[3].items[0].quantity``). Nothing of the batch was sent."""

    def __init__(self, invalid: dict[int, EventValidationError]) -> None:
        self.invalid = invalid
        super().__init__(
            [
                FieldProblem(f"events[{n}].{p.path}", p.message)
                for n, error in invalid.items()
                for p in error.problems
            ]
        )


def validate_many(events: Sequence[object]) -> None:
    """Raise BatchValidationError naming every bad event of ``events`` (by index) and every bad field."""
    invalid: dict[int, EventValidationError] = {}
    for n, event in enumerate(events):
        if not is_valid(event):
            invalid[n] = EventValidationError(problems(event), event_id=getattr(event, "event_id", None))
    if invalid:
        raise BatchValidationError(invalid)


def is_valid(event: object) -> bool:
    """True exactly when ``problems(event)`` is empty, decided cheaply for the common valid event."""
    cls = type(event)
    if cls is OrderEvent:
        fine = _order_fine(event)  # type: ignore[arg-type]
    elif cls is InventoryEvent:
        fine = _inventory_fine(event)  # type: ignore[arg-type]
    else:
        fine = False
    # The fast tests only ever say "certainly fine"; every other answer is the full validator's.
    return fine or not problems(event)


def problems(event: object) -> list[FieldProblem]:
    """Every bad field of ``event`` (empty when valid)."""
    if isinstance(event, OrderEvent):
        return _order_problems(event)
    if isinstance(event, InventoryEvent):
        return _inventory_problems(event)
    return [FieldProblem("event", f"must be an OrderEvent or InventoryEvent, not {type(event).__name__}")]


def _order_problems(e: OrderEvent) -> list[FieldProblem]:
    out = _common(e.event_id, e.occurred_at)
    event_type: object = e.event_type  # typed, but callers may hand in anything: check at run time
    if not isinstance(event_type, OrderEventType):
        out.append(FieldProblem("event_type", f"must be one of {', '.join(OrderEventType)}"))
    _uuid(out, "order_id", e.order_id)
    _text(out, "customer_id", e.customer_id, 64)
    _text(out, "region", e.region, 32)
    if not (isinstance(e.currency, str) and e.currency in ISO_4217):
        out.append(
            FieldProblem("currency", f"must be an ISO 4217 code such as EUR or USD, got {e.currency!r}")
        )
    _items(out, e)
    _money(out, "amount_minor", e.amount_minor)
    if e.reason is not None and not (isinstance(e.reason, str) and len(e.reason) <= 500):
        out.append(FieldProblem("reason", "must be text of at most 500 characters, or null"))
    elif e.reason is not None and not _encodable(e.reason):
        out.append(FieldProblem("reason", _NOT_UNICODE))
    return out


def _items(out: list[FieldProblem], e: OrderEvent) -> None:
    items: object = e.items
    if not isinstance(items, tuple | list):
        out.append(FieldProblem("items", "must be a list of order items"))
        return
    if e.event_type == OrderEventType.PLACED and not 1 <= len(e.items) <= MAX_ITEMS:
        out.append(FieldProblem("items", f"a placed order needs 1 to {MAX_ITEMS} items, got {len(e.items)}"))
    if e.event_type in (OrderEventType.PAID, OrderEventType.CANCELLED) and e.items:
        out.append(FieldProblem("items", f"must be empty on a {e.event_type} event"))
    total = 0
    for n, item in enumerate(e.items):
        path = f"items[{n}]"
        _text(out, f"{path}.sku", getattr(item, "sku", None), 64)
        quantity = getattr(item, "quantity", None)
        price = getattr(item, "unit_price_minor", None)
        quantity_ok = _int_in(out, f"{path}.quantity", quantity, 1, MAX_QUANTITY)
        price_ok = _money(out, f"{path}.unit_price_minor", price)  # checked even when the quantity is bad
        if quantity_ok and price_ok:
            total += quantity * price  # type: ignore[operator]
    if e.event_type == OrderEventType.PLACED and is_int(e.amount_minor) and e.amount_minor != total:
        out.append(
            FieldProblem("amount_minor", f"must equal the sum of the items ({total}), got {e.amount_minor}")
        )
    if e.event_type == OrderEventType.CANCELLED and e.amount_minor != 0:
        out.append(FieldProblem("amount_minor", "must be 0 on a cancelled event"))


def _inventory_problems(e: InventoryEvent) -> list[FieldProblem]:
    out = _common(e.event_id, e.occurred_at)
    kind: object = e.kind
    if not isinstance(kind, AdjustmentKind):
        out.append(FieldProblem("kind", f"must be one of {', '.join(AdjustmentKind)}"))
    _text(out, "sku", e.sku, 64)
    _text(out, "warehouse", e.warehouse, 32)
    if e.kind == AdjustmentKind.CORRECTION:
        if _int_in(out, "quantity", e.quantity, -INT32_MAX, INT32_MAX) and e.quantity == 0:
            out.append(FieldProblem("quantity", "a correction must change the stock (non-zero)"))
    else:
        _int_in(out, "quantity", e.quantity, 1, MAX_QUANTITY)
    if e.order_id is not None:
        _uuid(out, "order_id", e.order_id)
    return out


def _common(event_id: object, occurred_at: object) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    _uuid(out, "event_id", event_id)
    if not isinstance(occurred_at, datetime) or occurred_at.tzinfo is None:
        out.append(FieldProblem("occurred_at", "must be a timezone-aware datetime"))
    return out


def _uuid(out: list[FieldProblem], path: str, value: object) -> None:
    if not isinstance(value, UUID):
        out.append(FieldProblem(path, f"must be a UUID, got {value!r}"))


def _text(out: list[FieldProblem], path: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        out.append(FieldProblem(path, f"must be non-empty text of at most {limit} characters, got {value!r}"))
    elif "\x00" in value:  # PostgreSQL text cannot hold NUL: the sink could never store it
        out.append(FieldProblem(path, f"must not contain NUL characters, got {value!r}"))
    elif not _encodable(value):
        out.append(FieldProblem(path, f"{_NOT_UNICODE}, got {value!r}"))


_NOT_UNICODE = "must be valid Unicode text (a lone surrogate such as \\ud800 cannot be encoded as UTF-8)"


def _encodable(text: str) -> bool:
    """False for text with lone surrogates (from a JSON escape such as "\\ud800"): the Avro encoder would
    raise UnicodeEncodeError on it mid-emit."""
    if text.isascii():  # the common case, without building the encoded copy
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int_in(out: list[FieldProblem], path: str, value: object, low: int, high: int) -> bool:
    if not is_int(value):
        out.append(FieldProblem(path, f"must be an integer, got {type(value).__name__} {value!r}"))
        return False
    if not low <= value <= high:  # type: ignore[operator]
        out.append(FieldProblem(path, f"must be between {low} and {high}, got {value}"))
        return False
    return True


def _money(out: list[FieldProblem], path: str, value: object) -> bool:
    if isinstance(value, float):
        out.append(
            FieldProblem(path, f"must be an integer amount of minor units (e.g. cents), got float {value}")
        )
        return False
    return _int_in(out, path, value, 0, MAX_MINOR)


# ---- the fast path: exact types (no subclasses), ASCII text; False means "ask problems()" ----------------


def _order_fine(e: OrderEvent) -> bool:
    kind = e.event_type
    items = e.items
    amount = e.amount_minor
    reason = e.reason
    if not (
        _identity_fine(e.event_id, e.occurred_at)
        and type(kind) is OrderEventType
        and type(e.order_id) is UUID
        and _ascii_fine(e.customer_id, 64)
        and _ascii_fine(e.region, 32)
        and type(e.currency) is str
        and e.currency in ISO_4217
        and type(items) is tuple
        and type(amount) is int
        and 0 <= amount <= MAX_MINOR
        and (reason is None or (type(reason) is str and len(reason) <= 500 and reason.isascii()))
    ):
        return False
    if kind is OrderEventType.PLACED:
        return 1 <= len(items) <= MAX_ITEMS and _items_total(items) == amount
    # paid and cancelled carry no items; a cancelled event no amount
    return not items and (kind is OrderEventType.PAID or amount == 0)


def _items_total(items: tuple[OrderItem, ...]) -> int:
    """The order total when every item is certainly fine, else -1 (never a valid amount)."""
    total = 0
    for item in items:
        if type(item) is not OrderItem:
            return -1
        quantity, price = item.quantity, item.unit_price_minor
        if not (
            _ascii_fine(item.sku, 64)
            and type(quantity) is int
            and 1 <= quantity <= MAX_QUANTITY
            and type(price) is int
            and 0 <= price <= MAX_MINOR
        ):
            return -1
        total += quantity * price
    return total


def _inventory_fine(e: InventoryEvent) -> bool:
    kind, quantity, order_id = e.kind, e.quantity, e.order_id
    if kind is AdjustmentKind.CORRECTION:
        quantity_fine = type(quantity) is int and quantity != 0 and -INT32_MAX <= quantity <= INT32_MAX
    else:
        quantity_fine = type(quantity) is int and 1 <= quantity <= MAX_QUANTITY
    return (
        _identity_fine(e.event_id, e.occurred_at)
        and type(kind) is AdjustmentKind
        and _ascii_fine(e.sku, 64)
        and _ascii_fine(e.warehouse, 32)
        and quantity_fine
        and (order_id is None or type(order_id) is UUID)
    )


def _identity_fine(event_id: object, occurred_at: object) -> bool:
    return type(event_id) is UUID and type(occurred_at) is datetime and occurred_at.tzinfo is not None


def _ascii_fine(value: object, limit: int) -> bool:
    """Non-empty, not blank, ASCII text of at most ``limit`` characters without NUL (what _text allows)."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isascii()
        and not value.isspace()
        and "\x00" not in value
    )

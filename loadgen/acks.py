"""The acknowledgement log: per event, what the SDK said about it and when (one file per sender).

Verification compares PostgreSQL with this log, so it records exactly what the SDK's ``Delivery``
handle reported: the status (``acknowledged`` or ``spooled`` count as accepted), the partition and
offset the broker gave, and wall-clock times (the database stamps rows with wall-clock time too).
Fixed-size little-endian records, so a few hundred thousand of them load in a fraction of a second.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Iterator
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple
from uuid import UUID

from floodwall.privatefs import open_private
from floodwall.producers.delivery import DeliveryStatus

EVENT_TYPES = (
    "order.placed",
    "order.paid",
    "order.cancelled",
    "inventory.restock",
    "inventory.reservation",
    "inventory.release",
    "inventory.correction",
)
TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}

# event id, order id (zeros: none), type, status, topic (0 orders, 1 inventory), order lines, partition,
# offset, due, emitted, acked
_RECORD = struct.Struct("<16s16sBBBBhqddd")
_NO_ORDER = bytes(16)


class AckStatus(IntEnum):
    ACKNOWLEDGED = 0
    SPOOLED = 1
    FAILED = 2
    PENDING = 3  # still unconfirmed when the sender gave up waiting
    REFUSED = 4  # emit() raised (queue full, spool full): never handed to the SDK

    @property
    def accepted(self) -> bool:
        return self in (AckStatus.ACKNOWLEDGED, AckStatus.SPOOLED)

    @classmethod
    def of(cls, status: DeliveryStatus) -> AckStatus:
        return cls[status.name]


class Ack(NamedTuple):
    """One event as its sender saw it. Times are wall-clock epoch seconds; ``acked`` is NaN until the
    broker acknowledged it (a spooled event that was never replayed has none)."""

    event_id: UUID
    order_id: UUID | None
    event_type: str
    status: AckStatus
    topic: int
    lines: int  # order lines of an order.placed, else 0
    partition: int
    offset: int
    due: float
    emitted: float
    acked: float

    @property
    def accepted(self) -> bool:
        return self.status.accepted

    @property
    def has_ack_time(self) -> bool:
        return not math.isnan(self.acked)


class AckWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Event and order ids of a run: 0600 like every file Floodwall writes (floodwall/privatefs.py).
        self._file: IO[bytes] = os.fdopen(
            open_private(path, os.O_WRONLY | os.O_TRUNC), "wb", buffering=1 << 20
        )

    def write(self, ack: Ack) -> None:
        self._file.write(
            _RECORD.pack(
                ack.event_id.bytes,
                _NO_ORDER if ack.order_id is None else ack.order_id.bytes,
                TYPE_CODE[ack.event_type],
                int(ack.status),
                ack.topic,
                ack.lines,
                ack.partition,
                ack.offset,
                ack.due,
                ack.emitted,
                ack.acked,
            )
        )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AckWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_acks(paths: Iterable[Path]) -> Iterator[Ack]:
    """Every record of the given logs, file by file. A partial last record (its sender was killed while
    writing it) is left out."""
    for path in paths:
        data = path.read_bytes()
        for raw in _RECORD.iter_unpack(data[: len(data) - len(data) % _RECORD.size]):
            eid, oid, code, status, topic, lines, partition, offset, due, emitted, acked = raw
            yield Ack(
                UUID(bytes=eid),
                None if oid == _NO_ORDER else UUID(bytes=oid),
                EVENT_TYPES[code],
                AckStatus(status),
                topic,
                lines,
                partition,
                offset,
                due,
                emitted,
                acked,
            )

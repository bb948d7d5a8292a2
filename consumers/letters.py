"""The dead-letter record: what a dead letter carries, how an oversized one is cut down, and how one read
back from the dead-letter topic is understood. Pure: no Kafka client, no I/O.

A dead letter is the original record (key, value, headers, timestamp) plus Floodwall's own headers, named
below, saying where it came from and why it could not be applied. ``floodwall dlq`` reads those headers;
``replay`` strips them again and sends the original back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from floodwall.schemas.errors import MalformedMessage
from floodwall.schemas.framing import split

SOURCE_TOPIC = "floodwall.source.topic"
SOURCE_PARTITION = "floodwall.source.partition"
SOURCE_OFFSET = "floodwall.source.offset"
SOURCE_TIMESTAMP = "floodwall.source.timestamp"  # ms since the epoch: the original record's timestamp
ERROR_CLASS = "floodwall.error.class"
ERROR_MESSAGE = "floodwall.error.message"
CONSUMER_GROUP = "floodwall.consumer.group"
SCHEMA_FINGERPRINT = "floodwall.schema.fingerprint"  # hex of the Avro single-object header, when readable
EVENT_ID = "floodwall.event.id"  # when the event could be decoded
DEAD_LETTERED_AT = "floodwall.dead_lettered_at"  # ms since the epoch
TRUNCATED = "floodwall.truncated"  # "value" or "value+headers": the original is at its source offset
ORIGINAL_SIZE = "floodwall.original.size"  # bytes of the original value
REPLAY_OF = "floodwall.replay.of"  # on a replayed record: the dead letter it came from, ``dlq[3]@120``

OWN_HEADERS = frozenset({
    SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, SOURCE_TIMESTAMP, ERROR_CLASS, ERROR_MESSAGE,
    CONSUMER_GROUP, SCHEMA_FINGERPRINT, EVENT_ID, DEAD_LETTERED_AT, TRUNCATED, ORIGINAL_SIZE,
})  # fmt: skip

MAX_ERROR_MESSAGE = 1000  # characters of the reason kept in a header
TRUNCATED_PREFIX = 1024  # bytes of the value an oversized dead letter keeps (to recognise it by)
LAST_STAGE = 2  # 0: whole; 1: value cut to its prefix; 2: value and original headers dropped

Header = tuple[str, bytes | None]  # as a consumed record has them
ProduceHeaders = list[tuple[str, str | bytes | None]]  # as Producer.produce takes them


@dataclass(frozen=True)
class DeadLetter:
    """An unusable message: its original bytes, headers and coordinates, and the reason."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    error_class: str
    message: str
    headers: tuple[Header, ...] = ()
    timestamp_ms: int | None = None  # the original record's timestamp (None: the broker gave none)
    event_id: str | None = None  # when the event was decoded

    @classmethod
    def of(cls, msg: Message, error_class: str, message: str, event_id: str | None = None) -> DeadLetter:
        """The dead letter of the consumed ``msg``, keeping its key, value, headers and timestamp."""
        kind, stamp = msg.timestamp()
        return cls(
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=msg.key(),
            value=msg.value() or b"",
            error_class=error_class,
            message=message,
            headers=tuple(cast(list[Header], msg.headers() or [])),
            timestamp_ms=None if kind == TIMESTAMP_NOT_AVAILABLE else stamp,
            event_id=event_id,
        )

    @property
    def source(self) -> tuple[str, int]:
        return self.topic, self.partition


def fingerprint_hex(value: bytes) -> str | None:
    """The writer schema's fingerprint in an Avro single-object message, or None if it has no such header."""
    try:
        fingerprint, _ = split(value)
    except MalformedMessage:
        return None
    return fingerprint.hex()


def record(letter: DeadLetter, group: str, now_ms: int, stage: int = 0) -> tuple[bytes, ProduceHeaders]:
    """The value and headers of ``letter``'s DLQ record: the original headers, then Floodwall's.

    ``stage`` cuts an oversized letter down: 1 keeps only the first ``TRUNCATED_PREFIX`` bytes of the
    value, 2 drops the value and the original headers too. Either way the source topic, partition and
    offset say where the original is, and ``floodwall.truncated`` says what is missing.
    """
    ours: list[tuple[str, str]] = [
        (SOURCE_TOPIC, letter.topic),
        (SOURCE_PARTITION, str(letter.partition)),
        (SOURCE_OFFSET, str(letter.offset)),
        (ERROR_CLASS, letter.error_class),
        (ERROR_MESSAGE, letter.message[:MAX_ERROR_MESSAGE]),
        (CONSUMER_GROUP, group),
        (DEAD_LETTERED_AT, str(now_ms)),
    ]
    if letter.timestamp_ms is not None:
        ours.append((SOURCE_TIMESTAMP, str(letter.timestamp_ms)))
    fingerprint = fingerprint_hex(letter.value)
    if fingerprint is not None:
        ours.append((SCHEMA_FINGERPRINT, fingerprint))
    if letter.event_id is not None:
        ours.append((EVENT_ID, letter.event_id))
    value, original = letter.value, list[tuple[str, str | bytes | None]](letter.headers)
    if stage >= 1:
        ours += [(TRUNCATED, "value" if stage == 1 else "value+headers"), (ORIGINAL_SIZE, str(len(value)))]
        value = value[:TRUNCATED_PREFIX] if stage == 1 else b""
    if stage >= LAST_STAGE:
        original = []
    return value, [*original, *((k, v.encode()) for k, v in ours)]


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as read back from the dead-letter topic."""

    partition: int  # of the dead-letter topic
    offset: int
    timestamp_ms: int | None  # the record's timestamp: the original event's
    key: bytes | None
    value: bytes
    headers: tuple[Header, ...] = field(default=())

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (Floodwall's own come after the original ones), decoded."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = None if value is None else value.decode("utf-8", "replace")
        return found

    def _int(self, name: str) -> int | None:
        text = self.header(name)
        try:
            return None if text is None else int(text)
        except ValueError:
            return None

    @property
    def source_topic(self) -> str | None:
        return self.header(SOURCE_TOPIC)

    @property
    def source_partition(self) -> int | None:
        return self._int(SOURCE_PARTITION)

    @property
    def source_offset(self) -> int | None:
        return self._int(SOURCE_OFFSET)

    @property
    def error_class(self) -> str:
        return self.header(ERROR_CLASS) or "unknown"

    @property
    def truncated(self) -> str | None:
        return self.header(TRUNCATED)

    @property
    def dead_lettered_ms(self) -> int | None:
        """When it was dead-lettered; letters older than that header: the record timestamp."""
        return self._int(DEAD_LETTERED_AT) or self.timestamp_ms

    @property
    def coordinates(self) -> str:
        """``dlq partition@offset``, as ``show`` takes it."""
        return f"{self.partition}@{self.offset}"

    @property
    def source(self) -> str:
        """``orders[3]@120``, or ``?`` for a record without Floodwall's headers."""
        if self.source_topic is None:
            return "?"
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"

    def original_headers(self) -> ProduceHeaders:
        """The headers the original record had: all but Floodwall's own dead-letter headers."""
        return [(k, v) for k, v in self.headers if k not in OWN_HEADERS]


def header_lines(headers: Sequence[Header]) -> list[str]:
    """``name: value`` per header, in order (undecodable bytes shown as hex)."""
    lines = []
    for key, value in headers:
        if value is None:
            text = "(null)"
        else:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = "0x" + value.hex()
        lines.append(f"{key}: {text}")
    return lines

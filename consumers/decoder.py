"""The decoder: one poll's messages sorted into a :class:`Batch` — spans per partition, valid events, dead
letters. Pure: no client, no database, no side effect but a debug log line.

Decoding and validation happen here, before any database work: an undecodable message, an unknown
writer schema or an invalid event becomes a dead letter with its reason, and never blocks its batch-mates.
A fetch that left the log is not an event at all: it is reported in :attr:`Batch.misfits` for the
partition tracker to stop the partition (consumers/outofrange.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message

from floodwall.consumers.decide import Incoming
from floodwall.consumers.letters import DeadLetter
from floodwall.consumers.sink import Poisoned, Span
from floodwall.events.codec import EventDeserializer
from floodwall.events.validation import EventValidationError
from floodwall.schemas.errors import SchemaError

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]


@dataclass
class Batch:
    """What one transaction applies: per partition the offsets [first, end), the events, the letters."""

    spans: dict[TopicPart, list[int]] = field(default_factory=dict)  # (topic, partition) -> [first, end]
    events: list[Incoming] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    raw: dict[tuple[str, int, int], Message] = field(default_factory=dict)  # valid events' messages
    misfits: list[tuple[TopicPart, str]] = field(default_factory=list)  # fetches that left the log, why

    def span_list(self) -> list[Span]:
        return [Span(t, p, first, end) for (t, p), (first, end) in self.spans.items()]

    def refused_letters(self, refused: Sequence[Poisoned]) -> list[DeadLetter]:
        """The dead letters of valid events the database refused (each with its original message)."""
        letters = []
        for p in refused:
            i = p.incoming
            log.warning("%s[%d]@%d refused by the database: %s", i.topic, i.partition, i.offset, p.message)
            msg = self.raw[(i.topic, i.partition, i.offset)]
            letters.append(DeadLetter.of(msg, p.error_class, p.message, str(i.event.event_id)))
        return letters


def decode_batch(
    messages: Sequence[Message], positions: Mapping[TopicPart, int], deserialize: EventDeserializer
) -> Batch:
    """Sort ``messages`` into a :class:`Batch`. A message below its partition's stored position
    (``positions``) was applied already (a re-fetch after a seek) and is dropped; a partition without a
    position starts at its first message here."""
    batch = Batch()
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._AUTO_OFFSET_RESET:  # the fetch position left the log
                batch.misfits.append(((msg.topic() or "", msg.partition() or 0), err.str()))
            else:
                log.debug("consumer event: %s", err)
            continue
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        key = (topic, partition)
        expected = positions.get(key, offset)
        if offset < expected:
            continue  # already applied (a re-fetch after a seek)
        span = batch.spans.setdefault(key, [expected, offset + 1])
        span[1] = offset + 1
        _classify(batch, deserialize, msg, topic, partition, offset)
    return batch


def _classify(
    batch: Batch, deserialize: EventDeserializer, msg: Message, topic: str, partition: int, offset: int
) -> None:
    try:
        event = deserialize(msg.value())
    except EventValidationError as exc:
        batch.letters.append(DeadLetter.of(msg, "EventValidationError", exc.reasons, exc.event_id))
        return
    except SchemaError as exc:  # DecodeError (RecordError too), IncompatibleSchema: not one of our events
        batch.letters.append(DeadLetter.of(msg, type(exc).__name__, str(exc)))
        return
    batch.events.append(Incoming(event, topic, partition, offset))
    batch.raw[(topic, partition, offset)] = msg

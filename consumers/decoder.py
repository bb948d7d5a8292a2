"""The decoder: one poll's messages sorted into a :class:`Batch` — spans per partition, valid events, dead
letters. Pure: no client, no database, no side effect but a debug log line. In two steps, so that the
expensive one can run ahead: :func:`classify` decodes and validates (needs no positions), :func:`assemble`
cuts the spans from the partitions' positions once the previous batch has committed.

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
from floodwall.events.model import Event
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


@dataclass(frozen=True, slots=True)
class Classified:
    """One poll's messages, each decoded and validated: what is expensive in a batch, done without the
    partitions' positions, so it can run while the previous batch commits (consumers/ahead.py).

    ``entries`` keep the poll's order: ``(topic, partition, offset, message, event or dead letter)``."""

    messages: Sequence[Message]
    entries: list[tuple[str, int, int, Message, Event | DeadLetter]]
    misfits: list[tuple[TopicPart, str]]

    def partitions(self) -> set[TopicPart]:
        return {(topic, partition) for topic, partition, *_ in self.entries}


def decode_batch(
    messages: Sequence[Message], positions: Mapping[TopicPart, int], deserialize: EventDeserializer
) -> Batch:
    """Sort ``messages`` into a :class:`Batch`: :func:`classify`, then :func:`assemble`."""
    return assemble(classify(messages, deserialize), positions)


def classify(messages: Sequence[Message], deserialize: EventDeserializer) -> Classified:
    """Decode and validate every message (pure; thread-safe as the deserializer is). Client errors are not
    events: a fetch that left the log is kept as a misfit, anything else only logged."""
    entries: list[tuple[str, int, int, Message, Event | DeadLetter]] = []
    misfits: list[tuple[TopicPart, str]] = []
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._AUTO_OFFSET_RESET:  # the fetch position left the log
                misfits.append(((msg.topic() or "", msg.partition() or 0), err.str()))
            else:
                log.debug("consumer event: %s", err)
            continue
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        entries.append((topic, partition, offset, msg, _event_or_letter(deserialize, msg)))
    return Classified(messages, entries, misfits)


def assemble(classified: Classified, positions: Mapping[TopicPart, int]) -> Batch:
    """The batch ``classified`` makes from the partitions' stored positions (``positions``). A message
    below its partition's position was applied already (a re-fetch after a seek) and is dropped; a
    partition without a position starts at its first message here. Cheap: no decoding."""
    batch = Batch(misfits=list(classified.misfits))
    for topic, partition, offset, msg, decoded in classified.entries:
        key = (topic, partition)
        expected = positions.get(key, offset)
        if offset < expected:
            continue  # already applied (a re-fetch after a seek)
        span = batch.spans.setdefault(key, [expected, offset + 1])
        span[1] = offset + 1
        if isinstance(decoded, DeadLetter):
            batch.letters.append(decoded)
        else:
            batch.events.append(Incoming(decoded, topic, partition, offset))
            batch.raw[(topic, partition, offset)] = msg
    return batch


def _event_or_letter(deserialize: EventDeserializer, msg: Message) -> Event | DeadLetter:
    try:
        return deserialize(msg.value())
    except EventValidationError as exc:
        return DeadLetter.of(msg, "EventValidationError", exc.reasons, exc.event_id)
    except SchemaError as exc:  # DecodeError (RecordError too), IncompatibleSchema: not one of our events
        return DeadLetter.of(msg, type(exc).__name__, str(exc))

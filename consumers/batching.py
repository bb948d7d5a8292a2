"""One poll's messages sorted into a batch: spans per partition, valid events, dead letters.

Decoding and validation happen here, before any database work: an undecodable message, an unknown
writer schema or an invalid event becomes a dead letter with its reason, and never blocks its batch-mates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message

from floodwall.consumers.decide import Incoming
from floodwall.consumers.letters import DeadLetter
from floodwall.consumers.records import RecordError, event_from_record
from floodwall.producers.validation import problems
from floodwall.schemas.errors import SchemaError
from floodwall.schemas.registry import SchemaRegistry

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]


@dataclass
class Batch:
    """What one transaction applies: per partition the offsets [first, end), the events, the letters."""

    spans: dict[TopicPart, list[int]] = field(default_factory=dict)  # (topic, partition) -> [first, end]
    events: list[Incoming] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    raw: dict[tuple[str, int, int], Message] = field(default_factory=dict)  # valid events' messages
    refused: list[DeadLetter] = field(default_factory=list)  # valid events the database refused


def sort_batch(
    messages: Sequence[Message],
    positions: Mapping[TopicPart, int],
    registry: SchemaRegistry,
    misfit: Callable[[TopicPart, str], None],
) -> Batch:
    """Sort ``messages`` into a :class:`Batch`. A message below its partition's stored position was
    applied already (a re-fetch) and is dropped; a fetch that left the log is handed to ``misfit``."""
    batch = Batch()
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._AUTO_OFFSET_RESET:  # the fetch position left the log
                misfit((msg.topic() or "", msg.partition() or 0), err.str())
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
        _classify(batch, registry, msg, topic, partition, offset)
    return batch


def _classify(
    batch: Batch, registry: SchemaRegistry, msg: Message, topic: str, partition: int, offset: int
) -> None:
    value = msg.value() or b""
    try:
        decoded = registry.decode(value)
        event = event_from_record(decoded.name, decoded.record)
    except (SchemaError, RecordError) as exc:
        batch.letters.append(DeadLetter.of(msg, type(exc).__name__, str(exc)))
        return
    found = problems(event)
    if found:
        reason = "; ".join(str(p) for p in found)
        batch.letters.append(DeadLetter.of(msg, "EventValidationError", reason, str(event.event_id)))
        return
    batch.events.append(Incoming(event, topic, partition, offset))
    batch.raw[(topic, partition, offset)] = msg

"""Fakes of the consumer's collaborators for unit tests: a Kafka consumer client that records what is
asked of it, and a batch of real (constructed) messages with real events."""

from __future__ import annotations

from uuid import uuid4

from confluent_kafka import Message, TopicPartition

from floodwall.consumers.decide import Incoming
from floodwall.consumers.decoder import Batch
from floodwall.consumers.letters import DeadLetter
from floodwall.events.model import InventoryEvent

TopicPart = tuple[str, int]


class FakeClient:
    """The slice of confluent_kafka.Consumer the tracker uses; the log bounds are set per partition."""

    def __init__(self, bounds: dict[TopicPart, tuple[int, int]] | None = None) -> None:
        self.bounds = bounds or {}
        self.assigned: dict[TopicPart, int] = {}
        self.paused: set[TopicPart] = set()
        self.seeks: list[tuple[TopicPart, int]] = []
        self.commits: list[dict[TopicPart, int]] = []

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned.update({(tp.topic, tp.partition): tp.offset for tp in partitions})

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned.pop((tp.topic, tp.partition), None)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.assigned]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(((tp.topic, tp.partition), tp.offset))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def get_watermark_offsets(
        self, tp: TopicPartition, timeout: float = 0, cached: bool = False
    ) -> tuple[int, int]:
        return self.bounds.get((tp.topic, tp.partition), (0, 1_000_000))


def batch_of(topic: str, partition: int, first: int, valid: int, invalid: int = 0) -> Batch:
    """A decoded batch: ``valid`` events from ``first`` on, then ``invalid`` dead letters."""
    batch = Batch()
    for offset in range(first, first + valid + invalid):
        msg = Message(topic=topic, partition=partition, offset=offset, value=b"v%d" % offset, key=b"k")
        if offset < first + valid:
            event = InventoryEvent.restock(sku=f"sku-{uuid4()}", warehouse="w", quantity=1)
            batch.events.append(Incoming(event, topic, partition, offset))
            batch.raw[(topic, partition, offset)] = msg
        else:
            batch.letters.append(DeadLetter.of(msg, "MalformedMessage", "not Avro"))
    batch.spans[(topic, partition)] = [first, first + valid + invalid]
    return batch

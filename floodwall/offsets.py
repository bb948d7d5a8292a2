"""A consumer group's position over some topics, read through the Kafka admin API (one round each)."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # re-exported by admin, but not declared so

from floodwall.errors import FloodwallError


class OffsetsUnavailable(FloodwallError):
    """The broker could not be read, or a topic does not exist; the message says which."""


@dataclass(frozen=True)
class GroupPosition:
    """One partition: its log end and the group's committed offset (None: no valid one, Kafka's -1001)."""

    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None


def read_group_positions(
    admin: AdminClient, group: str, topics: tuple[str, ...] | list[str], timeout_s: float
) -> list[GroupPosition]:
    """End offsets (ListOffsets "latest") and the group's committed offsets (OffsetFetch), partition by
    partition. Raises OffsetsUnavailable."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
        missing = [t for t in topics if t not in metadata.topics]
        if missing:
            raise OffsetsUnavailable(f"topic(s) {', '.join(missing)} not found")
        tps = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
        ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=timeout_s)
        request = [ConsumerGroupTopicPartitions(group, tps)]
        committed_future = admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
        end_of = {(tp.topic, tp.partition): f.result().offset for tp, f in ends.items()}
        committed = committed_future[group].result().topic_partitions or []
    except KafkaException as exc:
        raise OffsetsUnavailable(f"cannot read offsets of group {group!r}: {exc.args[0]}") from exc
    committed_of = {(tp.topic, tp.partition): tp.offset for tp in committed}
    return [
        GroupPosition(tp.topic, tp.partition, max(0, end_of[(tp.topic, tp.partition)]),
                      _valid(committed_of.get((tp.topic, tp.partition))))
        for tp in tps
    ]  # fmt: skip


def _valid(offset: int | None) -> int | None:
    return offset if offset is not None and offset >= 0 else None

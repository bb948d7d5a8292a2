"""A consumer group's position over some topics, read (and, for an operator's reset, written) through the
Kafka admin API (one round each)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # re-exported by admin, but not declared so

from floodwall.errors import FloodwallError
from floodwall.kafkaconn import KAFKA_CLIENT_LOG


class OffsetsUnavailable(FloodwallError):
    """The broker could not be read, or a topic does not exist; the message says which."""


@dataclass(frozen=True)
class GroupPosition:
    """One partition: its log end and the group's committed offset (None: no valid one, Kafka's -1001);
    its log start only when asked for (``log_start=True``), else None."""

    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None
    start_offset: int | None = None


def read_group_positions(
    admin: AdminClient,
    group: str,
    topics: tuple[str, ...] | list[str],
    timeout_s: float,
    log_start: bool = False,
) -> list[GroupPosition]:
    """End offsets (ListOffsets "latest") and the group's committed offsets (OffsetFetch), partition by
    partition; with ``log_start`` also the log start offsets (ListOffsets "earliest", the low watermark).
    Raises OffsetsUnavailable."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
        missing = [t for t in topics if t not in metadata.topics]
        if missing:
            raise OffsetsUnavailable(f"topic(s) {', '.join(missing)} not found")
        tps = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
        ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=timeout_s)
        starts = (
            admin.list_offsets({tp: OffsetSpec.earliest() for tp in tps}, request_timeout=timeout_s)
            if log_start
            else {}
        )
        # OffsetFetch only once the group's coordinator answers: confluent-kafka 2.16.1 dies with SIGSEGV when
        # list_consumer_group_offsets meets a coordinator that is not there yet (a new cluster's offsets
        # topic being created: NOT_COORDINATOR); a DescribeGroups round trip fails cleanly instead.
        admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result()
        request = [ConsumerGroupTopicPartitions(group, tps)]
        committed_future = admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
        end_of = {(tp.topic, tp.partition): f.result().offset for tp, f in ends.items()}
        start_of = {(tp.topic, tp.partition): max(0, f.result().offset) for tp, f in starts.items()}
        committed = committed_future[group].result().topic_partitions or []
    except KafkaException as exc:
        raise OffsetsUnavailable(f"cannot read offsets of group {group!r}: {_reason(exc)}") from exc
    committed_of = {(tp.topic, tp.partition): tp.offset for tp in committed}
    keys = [(tp.topic, tp.partition) for tp in tps]
    return [
        GroupPosition(t, p, max(0, end_of[(t, p)]), _valid(committed_of.get((t, p))), start_of.get((t, p)))
        for t, p in keys
    ]


ClientValue = str | int | float | bool  # a librdkafka setting's value


class GroupPositionReader:
    """:func:`read_group_positions` for a long-lived caller (the autoscaler, a sampler), through an
    AdminClient that is replaced after every failed read.

    Why: after the broker restarts, a librdkafka 2.16.1 admin client answers every group request
    (DescribeGroups, OffsetFetch) with "Local: Timed out" for as long as it lives, while its metadata and
    ListOffsets requests work again; a new client reads the group at once.
    """

    def __init__(
        self,
        conf: Mapping[str, ClientValue],
        group: str,
        topics: tuple[str, ...] | list[str],
        timeout_s: float,
    ) -> None:
        # Any: the stubs' value type leaves out the logger object librdkafka's binding accepts.
        self._conf: dict[str, Any] = {"logger": KAFKA_CLIENT_LOG, **conf}
        self._group = group
        self._topics = topics
        self._timeout_s = timeout_s
        self._admin = AdminClient(self._conf)

    def read(self) -> list[GroupPosition]:
        """The group's positions now. Raises OffsetsUnavailable (and starts afresh on the next read)."""
        try:
            return read_group_positions(self._admin, self._group, self._topics, self._timeout_s)
        except OffsetsUnavailable:
            self._admin = AdminClient(self._conf)
            raise


def group_member_count(admin: AdminClient, group: str, timeout_s: float) -> int:
    """How many members the group has now (0 for an empty or unknown group). Raises OffsetsUnavailable."""
    try:
        description = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result()
    except KafkaException as exc:
        raise OffsetsUnavailable(f"cannot describe group {group!r}: {_reason(exc)}") from exc
    return len(description.members or [])


def commit_group_offsets(
    admin: AdminClient, group: str, offsets: Mapping[tuple[str, int], int], timeout_s: float
) -> None:
    """Set the group's committed offsets (OffsetCommit from outside the group, as Kafka's own reset tool
    does). Kafka accepts that only while the group has no members. Raises OffsetsUnavailable naming the
    first partition Kafka refused, or the request's failure; partitions before it may be set."""
    request = [
        ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])
    ]
    try:
        result = admin.alter_consumer_group_offsets(request, request_timeout=timeout_s)[group].result()
    except KafkaException as exc:
        raise OffsetsUnavailable(f"cannot commit offsets of group {group!r}: {_reason(exc)}") from exc
    for tp in result.topic_partitions or []:
        if tp.error is not None:
            raise OffsetsUnavailable(
                f"cannot commit offsets of group {group!r}: {tp.topic}[{tp.partition}]: {tp.error.str()}"
            )


def _reason(exc: KafkaException) -> str:
    """Kafka's own words (``Failed to get metadata: Local: Broker transport failure``), not the repr."""
    err = exc.args[0] if exc.args else exc
    if not isinstance(err, KafkaError):
        return str(err)
    text = str(err.str()).strip()
    # Some answers carry only the request's name ("ConsumerGroupDescribe:"): the code then says what it was.
    return f"{text} {err.name()}" if text.endswith(":") else text


def _valid(offset: int | None) -> int | None:
    return offset if offset is not None and offset >= 0 else None

"""The I/O behind ``floodwall dlq``: read the dead-letter topic up to its end, and send replays.

Reading assigns the partitions directly (no group membership, nothing committed) and stops at each
partition's high watermark as it stood when the read began. Every failure is one FloodwallError line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from floodwall.consumers.dlq_plan import Entry
from floodwall.consumers.letters import REPLAY_OF, Header, StoredLetter
from floodwall.errors import FloodwallError

Progress = Callable[[int, int], None]  # (read so far, total to read)


class DlqUnavailable(FloodwallError):
    """The dead-letter topic could not be read, or a replay not written; the message says which."""


def _letter(msg: Message) -> StoredLetter:
    kind, stamp = msg.timestamp()
    return StoredLetter(
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        timestamp_ms=stamp if kind else None,  # kind 0: TIMESTAMP_NOT_AVAILABLE
        key=msg.key(),
        value=msg.value() or b"",
        headers=tuple(cast(list[Header], msg.headers() or [])),
    )


class DlqReader:
    """Reads one dead-letter topic. Use as a context manager."""

    def __init__(
        self, bootstrap_servers: str, connection: Mapping[str, str], topic: str, timeout_s: float
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.timeout_s = timeout_s
        # A group id is required by the client, but assign() never joins it and nothing is committed.
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap_servers, "group.id": f"floodwall-dlq-reader-{uuid.uuid4()}",
            "enable.auto.commit": False, "enable.partition.eof": True, **connection,
        })  # fmt: skip

    def __enter__(self) -> DlqReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._consumer.close()

    def bounds(self) -> dict[int, tuple[int, int]]:
        """{partition: (low, high watermark)}. Raises DlqUnavailable (also for a missing topic)."""
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=self.timeout_s)
            topic = metadata.topics.get(self.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                raise DlqUnavailable(
                    f"dead-letter topic {self.topic!r} not found on {self.bootstrap_servers}"
                )
            return {
                p: self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=self.timeout_s)
                for p in sorted(topic.partitions)
            }
        except KafkaException as exc:
            raise DlqUnavailable(
                f"cannot read {self.topic!r} on {self.bootstrap_servers}: {_reason(exc)}"
            ) from None

    def letters(self, progress: Progress | None = None) -> Iterator[StoredLetter]:
        """Every dead letter from the log start up to the end as it is now, partition by partition in
        offset order (across partitions interleaved). Raises DlqUnavailable, also when the broker stops
        answering for ``timeout_s``."""
        bounds = self.bounds()
        starts = {p: low for p, (low, high) in bounds.items() if high > low}
        ends = {p: bounds[p][1] for p in starts}
        yield from self._read(starts, ends, sum(ends[p] - starts[p] for p in starts), progress)

    def letter(self, partition: int, offset: int) -> StoredLetter | None:
        """The dead letter at ``partition@offset``, or None when the log does not hold it (deleted by
        retention, or not written yet). Raises DlqUnavailable."""
        bounds = self.bounds()
        if partition not in bounds or not bounds[partition][0] <= offset < bounds[partition][1]:
            return None
        for found in self._read({partition: offset}, {partition: offset + 1}, 1, None):
            return found if found.offset == offset else None
        return None

    def _read(
        self, starts: dict[int, int], ends: dict[int, int], total: int, progress: Progress | None
    ) -> Iterator[StoredLetter]:
        if not starts:
            return
        self._consumer.assign([TopicPartition(self.topic, p, o) for p, o in starts.items()])
        open_parts, read = set(starts), 0
        last_news = last_report = time.monotonic()
        while open_parts:
            for msg in self._consumer.consume(500, timeout=0.5):
                err, part = msg.error(), msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard(part)
                        continue
                    raise DlqUnavailable(f"cannot read {self.topic!r}: {err.str()}")
                last_news = time.monotonic()
                if part in open_parts and (msg.offset() or 0) < ends[part]:
                    read += 1
                    yield _letter(msg)
                if (msg.offset() or 0) >= ends[part] - 1:
                    open_parts.discard(part)
            now = time.monotonic()
            if open_parts and now - last_news > self.timeout_s:
                raise DlqUnavailable(
                    f"reading {self.topic!r}: no answer for {self.timeout_s:g} s ({read} of {total} read)"
                )
            if progress is not None and now - last_report > 2:
                progress(read, total)
                last_report = now


def replay(
    bootstrap_servers: str,
    connection: Mapping[str, str],
    dlq_topic: str,
    entries: Sequence[Entry],
    timeout_s: float,
) -> int:
    """Send each entry's original record (key, value, original headers, plus ``floodwall.replay.of``) to
    its source topic, keyed as the original (the producers' partitioner puts it where its key's events
    go). Returns how many were acknowledged. Raises DlqUnavailable naming how many were and were not."""
    producer = Producer({
        "bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all",
        "linger.ms": 5, "message.timeout.ms": max(1, int(timeout_s * 1000)), **connection,
    })  # fmt: skip
    acked: list[int] = []
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            acked.append(1)
        else:
            errors.append(err.str())

    try:
        for entry in entries:
            letter = entry.letter
            headers = [*letter.original_headers(), (REPLAY_OF, f"{dlq_topic}[{letter.coordinates}]")]
            producer.produce(str(letter.source_topic), letter.value, letter.key, headers=headers,
                             on_delivery=delivered)  # fmt: skip
            producer.poll(0)
    except (KafkaException, BufferError) as exc:
        producer.flush(timeout_s)
        raise DlqUnavailable(f"replay stopped after {len(acked)} of {len(entries)}: {exc}") from None
    remaining = producer.flush(timeout_s + 2)
    if errors or remaining:
        first = errors[0] if errors else f"not acknowledged within {timeout_s:g} s"
        raise DlqUnavailable(
            f"replayed {len(acked)} of {len(entries)} dead letter(s); {len(entries) - len(acked)} not "
            f"written ({first}); replaying them again is safe"
        )
    return len(acked)


def _reason(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else exc
    return str(err.str()) if isinstance(err, KafkaError) else str(err)

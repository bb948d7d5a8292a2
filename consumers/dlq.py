"""The dead-letter topic: events that cannot be applied, with where they came from and why.

Sending never takes the consumer down: an oversized letter is cut down and sent (its headers point to the
original's source offset), a full producer queue is drained and the produce retried, and a DLQ that does
not acknowledge in time raises :class:`DeadLetterFailed` naming the partitions whose letters are missing,
for the consumer to hold those partitions (consumers/dlqstall.py) rather than exit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from floodwall.consumers.letters import LAST_STAGE, DeadLetter, record
from floodwall.errors import FloodwallError

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]


class DeadLetterFailed(FloodwallError):
    """The DLQ did not acknowledge every dead letter; the batch must not be committed.

    ``partitions`` are the source partitions whose letters were not acknowledged."""

    def __init__(self, message: str, partitions: frozenset[TopicPart]) -> None:
        super().__init__(message)
        self.partitions = partitions


@dataclass
class _Pending:
    letter: DeadLetter
    stage: int = 0  # how far it is cut down (consumers.letters.record)
    error: KafkaError | None = None
    delivered: bool = False


class DeadLetterQueue:
    """Sends dead letters (idempotent, acks=all) and waits for every acknowledgement.

    The sink sends a batch's dead letters *before* committing the batch in PostgreSQL, so a dead letter
    is never lost with its offset committed; a crash in between may send it twice (at-least-once DLQ).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group: str,
        connection: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.topic = topic
        self.group = group
        self.timeout_s = timeout_s
        # message.timeout.ms = the send's timeout: a letter not acknowledged by then is failed by the
        # client, not left queued to land (or expire) during some later send.
        self._config = {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all",
                        "linger.ms": 5, "client.id": f"{group}-dlq",
                        "message.timeout.ms": max(1, int(timeout_s * 1000)),
                        **(connection or {})}  # fmt: skip
        self._producer = Producer(self._config)

    def send(self, letters: list[DeadLetter]) -> None:
        """Send ``letters`` and wait until all are acknowledged (within ``timeout_s``).

        A letter over the producer's or the topic's size limit is sent cut down (value prefix, then no
        value and no original headers). Raises DeadLetterFailed when some letter is not acknowledged."""
        if not letters:
            return
        deadline = time.monotonic() + self.timeout_s
        pending = [_Pending(letter) for letter in letters]
        self._round(pending, deadline)
        # Refused for its size, or only for sharing a record batch with a larger letter: each alone again,
        # and cut down further only while refused alone.
        for item in [p for p in pending if self._too_large(p)]:
            item.error = None
            self._round([item], deadline)
            while self._too_large(item) and item.stage < LAST_STAGE:
                item.stage, item.error = item.stage + 1, None
                self._say_truncated(item)
                self._round([item], deadline)
        failed = [p for p in pending if not p.delivered]
        if failed:
            self._failed(failed)

    def _round(self, items: list[_Pending], deadline: float) -> None:
        for item in items:
            self._produce(item, deadline)
        # A little past the client's own message timeout, so every letter has its outcome by then.
        self._producer.flush(max(0.0, deadline - time.monotonic()) + 2.0)

    def _produce(self, item: _Pending, deadline: float) -> None:
        """Queue one letter; a full queue is drained (poll) and retried until ``deadline``; a letter the
        client finds too large is cut down at once."""

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            item.error, item.delivered = err, err is None

        while True:
            value, headers = record(item.letter, self.group, int(time.time() * 1000), item.stage)
            try:
                self._producer.produce(self.topic, value, item.letter.key, headers=headers,
                                       timestamp=item.letter.timestamp_ms or 0,
                                       on_delivery=delivered)  # fmt: skip
                return
            except BufferError:
                if time.monotonic() > deadline:
                    item.error = KafkaError(KafkaError._QUEUE_FULL, "producer queue full")
                    return
                self._producer.poll(0.1)  # serves delivery reports, which frees queue space
            except KafkaException as exc:  # this client's own size check: this letter alone is too large
                item.error = exc.args[0]
                if not self._too_large(item) or item.stage >= LAST_STAGE:
                    return
                item.stage, item.error = item.stage + 1, None
                self._say_truncated(item)

    @staticmethod
    def _too_large(item: _Pending) -> bool:
        """Refused for its size (by this client or the broker)."""
        too_large = (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)
        return item.error is not None and item.error.code() in too_large

    def _say_truncated(self, item: _Pending) -> None:
        letter = item.letter
        log.warning(
            "%s[%d]@%d: dead letter of %d bytes is over the size limit of %s; sent %s (the original "
            "stays at its source offset)", letter.topic, letter.partition, letter.offset, len(letter.value),
            self.topic, "with a value prefix" if item.stage == 1 else "without value and original headers",
        )  # fmt: skip

    def _failed(self, failed: list[_Pending]) -> None:
        errors = [p.error for p in failed if p.error is not None]
        # A fresh producer for the next try: this one may hold the topic as non-existent until its next
        # metadata refresh (5 min) after the topic is created, or be in a fatal (idempotence) state.
        self._producer.flush(0)
        self._producer = Producer(self._config)
        first = errors[0].str() if errors else f"not acknowledged within {self.timeout_s:g} s"
        raise DeadLetterFailed(
            f"dead-letter topic {self.topic}: {len(failed)} dead letter(s) not written ({first})",
            frozenset(p.letter.source for p in failed),
        )

    def close(self) -> None:
        self._producer.flush(10)

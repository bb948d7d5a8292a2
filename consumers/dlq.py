"""The dead-letter topic: events that cannot be applied, with where they came from and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from floodwall.errors import FloodwallError


class DeadLetterFailed(FloodwallError):
    """The DLQ did not acknowledge every dead letter; the batch must not be committed."""


@dataclass(frozen=True)
class DeadLetter:
    """An unusable message: its original bytes and coordinates, and the reason."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    error_class: str
    message: str


class DeadLetterQueue:
    """Sends dead letters (idempotent, acks=all) and waits for every acknowledgement.

    The sink sends a batch's dead letters *before* committing the batch in PostgreSQL, so a dead letter
    is never lost with its offset committed; a crash in between may send it twice (at-least-once DLQ).
    """

    def __init__(
        self, bootstrap_servers: str, topic: str, group: str, connection: Mapping[str, str] | None = None
    ) -> None:
        self.topic = topic
        self.group = group
        self._config = {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all",
                        "linger.ms": 5, "client.id": f"{group}-dlq", **(connection or {})}  # fmt: skip
        self._producer = Producer(self._config)

    def send(self, letters: list[DeadLetter], timeout_s: float = 30.0) -> None:
        """Send ``letters`` and wait until all are acknowledged. Raises DeadLetterFailed."""
        if not letters:
            return
        errors: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(err.str())

        for letter in letters:
            headers: dict[str, str | bytes | None] = {
                "floodwall.source.topic": letter.topic,
                "floodwall.source.partition": str(letter.partition),
                "floodwall.source.offset": str(letter.offset),
                "floodwall.error.class": letter.error_class,
                "floodwall.error.message": letter.message[:1000],
                "floodwall.consumer.group": self.group,
            }
            self._producer.produce(
                self.topic, letter.value, letter.key, headers=headers, on_delivery=delivered
            )
        remaining = self._producer.flush(timeout_s)
        if errors or remaining:
            raise DeadLetterFailed(
                f"dead-letter topic {self.topic}: {len(errors)} failed, {remaining} unacknowledged "
                f"({errors[0] if errors else 'timeout'})"
            )

    def close(self) -> None:
        self._producer.flush(10)

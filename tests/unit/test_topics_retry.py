"""Topic creation gets past a transient admin failure (a broker handle swapped mid-request right after a
broker restart) and still fails at once, and clearly, on a refusal. The admin client here is a stand-in
whose answers are scripted: the real race cannot be produced on demand."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from floodwall.errors import FloodwallError
from floodwall.topics import _create_topics

BOOTSTRAP = "127.0.0.1:19092"


class ScriptedAdmin:
    """Answers each create_topics round with the next row of ``rounds`` ({topic: error code or None})."""

    def __init__(self, rounds: list[dict[str, int | None]]) -> None:
        self.rounds = rounds
        self.asked: list[list[str]] = []

    def create_topics(self, new: list[NewTopic], **_: float) -> dict[str, Future[None]]:
        answers = self.rounds[min(len(self.asked), len(self.rounds) - 1)]
        self.asked.append([topic.topic for topic in new])
        futures: dict[str, Future[None]] = {}
        for topic in new:
            future: Future[None] = Future()
            code = answers[topic.topic]
            if code is None:
                future.set_result(None)
            else:
                future.set_exception(KafkaException(KafkaError(code)))
            futures[topic.topic] = future
        return futures


def topics(*names: str) -> list[NewTopic]:
    return [NewTopic(name, num_partitions=3, replication_factor=1) for name in names]


def test_a_destroyed_broker_handle_is_retried_for_the_unsettled_topics_only() -> None:
    admin = ScriptedAdmin([
        {"orders": KafkaError._DESTROY_BROKER, "inventory": None},
        {"orders": None},
    ])  # fmt: skip
    created = _create_topics(admin, BOOTSTRAP, topics("orders", "inventory"), timeout_s=5)  # type: ignore[arg-type]
    assert created == {"orders", "inventory"}
    assert admin.asked == [["orders", "inventory"], ["orders"]]


def test_an_existing_topic_after_a_retry_counts_as_existing() -> None:
    admin = ScriptedAdmin([{"dlq": KafkaError.NOT_CONTROLLER}, {"dlq": KafkaError.TOPIC_ALREADY_EXISTS}])
    assert _create_topics(admin, BOOTSTRAP, topics("dlq"), timeout_s=5) == set()  # type: ignore[arg-type]


def test_a_refusal_is_not_retried() -> None:
    admin = ScriptedAdmin([{"orders": KafkaError.INVALID_REPLICATION_FACTOR}])
    with pytest.raises(FloodwallError, match=r"cannot create topic 'orders' on 127\.0\.0\.1:19092"):
        _create_topics(admin, BOOTSTRAP, topics("orders"), timeout_s=5)  # type: ignore[arg-type]
    assert len(admin.asked) == 1


def test_a_failure_that_does_not_pass_ends_at_the_timeout_with_its_reason() -> None:
    admin = ScriptedAdmin([{"orders": KafkaError._DESTROY_BROKER}])
    with pytest.raises(FloodwallError, match=r"cannot create topic 'orders'.*Broker handle destroyed"):
        _create_topics(admin, BOOTSTRAP, topics("orders"), timeout_s=0.5)  # type: ignore[arg-type]
    assert len(admin.asked) >= 2

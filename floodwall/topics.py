"""Create Floodwall's topics through the Kafka admin API (idempotent)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException

# NewTopic's documented home is confluent_kafka.admin, whose stub does not re-export it.
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from floodwall.errors import FloodwallError


@dataclass(frozen=True)
class TopicOutcome:
    """What happened to one topic: ``created``, ``exists`` (with its partition count)."""

    name: str
    outcome: str
    partitions: int


def ensure_topics(
    bootstrap_servers: str,
    names: list[str],
    partitions: int,
    timeout_s: float = 15.0,
    replication_factor: int | None = None,
    connection: Mapping[str, str] | None = None,
    config: Mapping[str, str] | None = None,
) -> list[TopicOutcome]:
    """Create each topic that does not exist yet with ``partitions`` partitions and ``replication_factor``
    copies (None: the cluster's ``default.replication.factor``; a production cluster wants 3) and the
    topic ``config`` given (e.g. ``min.insync.replicas``; unset keys take the broker's defaults).

    Existing topics are left as they are (their partition count is reported, never changed: adding
    partitions would move keys and break per-key ordering). Raises FloodwallError when the broker
    cannot be reached or refuses a topic.
    """
    admin = AdminClient(
        {"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 5000, **(connection or {})}
    )
    copies = -1 if replication_factor is None else replication_factor  # -1: the broker's default
    new = [NewTopic(name, num_partitions=partitions, replication_factor=copies, config=dict(config or {}))
           for name in names]  # fmt: skip
    futures = admin.create_topics(
        new,
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    created = set()
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.add(name)
        except TimeoutError:
            raise FloodwallError(
                f"cannot create topic {name!r}: no answer from {bootstrap_servers} within {timeout_s:g} s"
            ) from None
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise FloodwallError(f"cannot create topic {name!r} on {bootstrap_servers}: {err}") from None
    partitions_of = _wait_for_leaders(admin, bootstrap_servers, names, timeout_s)
    return [
        TopicOutcome(name, "created" if name in created else "exists", partitions_of.get(name, 0))
        for name in names
    ]


def _wait_for_leaders(
    admin: AdminClient, bootstrap_servers: str, names: list[str], timeout_s: float
) -> dict[str, int]:
    """{topic: partitions} once every partition of ``names`` has a leader in the metadata (or at the
    deadline). A new topic reaches the brokers' metadata caches a moment after its creation is
    acknowledged; a client that used it at once would get "unknown topic" from a broker not yet told."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise FloodwallError(f"cannot list topics on {bootstrap_servers}: {exc.args[0]}") from None
        led = {
            name: len(metadata.topics[name].partitions)
            for name in names
            if name in metadata.topics
            and metadata.topics[name].partitions
            and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
        }
        if len(led) == len(names) or time.monotonic() > deadline:
            return led
        time.sleep(0.1)

"""One bench run's own world: a throwaway schema with the sink's tables and fresh topics with the events
pre-loaded, so a bench neither reads nor writes anyone's data; both are removed at the end. Shared by
``bench sink`` and ``bench rebalance``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import psycopg
from confluent_kafka import KafkaError, Message, Producer
from psycopg import sql
from psycopg.conninfo import make_conninfo

from floodwall.consumers.decide import Incoming
from floodwall.db.migrate import migrate
from floodwall.errors import FloodwallError
from floodwall.events.codec import EventSerializer
from floodwall.events.model import Event, InventoryEvent
from floodwall.redact import error_line
from floodwall.topics import delete_topics, ensure_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchRun:
    """What one bench run works on, all of its own: nobody else's data is read or written."""

    run_id: str
    schema_url: str  # the throwaway schema, with the sink's tables
    topics: list[str]  # orders, inventory, dead-letter topic
    located: list[Incoming]  # the pre-loaded events, where each landed


@contextmanager
def bench_run(
    bench: str, bootstrap: str, url: str, events: Sequence[Event], partitions: int
) -> Iterator[BenchRun]:
    """A fresh run: ``events`` pre-loaded in order into new topics ``bench-<bench>-<id>-…`` with
    ``partitions`` each (orders to the first, inventory to the second), and a schema
    ``floodwall_bench_<id>`` with the sink's tables, dropped at the end.

    ``url`` must be allowed to create schemas (the schema owner's). Raises FloodwallError when the database
    refuses or cannot be reached, or the broker does not acknowledge the events."""
    run_id = secrets.token_hex(4)
    with bench_schema(url, f"floodwall_bench_{run_id}") as schema_url:
        topics = [f"bench-{bench}-{run_id}-{name}" for name in ("orders", "inventory", "dlq")]
        try:
            ensure_topics(bootstrap, topics, partitions)
            located = preload(bootstrap, topics[0], events, inventory_topic=topics[1])
            yield BenchRun(run_id, schema_url, topics, located)
        finally:  # the topics hold a copy of every event: leaving them would fill the broker's disk
            for problem in delete_topics(bootstrap, topics):
                log.warning("bench: topic not deleted, remove it by hand: %s", problem)


@contextmanager
def bench_schema(url: str, schema: str) -> Iterator[str]:
    """A throwaway schema with the sink's tables; yields a URL whose search_path points at it."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise FloodwallError(
            f"cannot create the bench schema: {str(exc).strip().splitlines()[0]}; the bench needs a role "
            f"that may create schemas, such as the schema owner (the local stack's database_owner_url)"
        ) from None
    except psycopg.OperationalError as exc:
        raise FloodwallError(f"cannot reach the database: {error_line(exc, url)}") from None
    schema_url = make_conninfo(url, options=f"-csearch_path={schema}")
    try:
        migrate(schema_url)
        yield schema_url
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def preload(
    bootstrap: str, topic: str, events: Sequence[Event], inventory_topic: str | None = None
) -> list[Incoming]:
    """Produce ``events`` in order (inventory events to ``inventory_topic`` when given) and return where
    each landed. Raises FloodwallError when the broker does not acknowledge every one."""
    serialize = EventSerializer()
    client = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                       "compression.type": "lz4"})  # fmt: skip
    located: list[Incoming | None] = [None] * len(events)

    def delivered(index: int, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            located[index] = Incoming(events[index], str(msg.topic()), int(msg.partition() or 0),
                                      int(msg.offset() or 0))  # fmt: skip

    for index, event in enumerate(events):
        target = inventory_topic if inventory_topic and isinstance(event, InventoryEvent) else topic
        while True:
            try:
                client.produce(target, serialize(event), event.key(), on_delivery=partial(delivered, index))
                break
            except BufferError:
                client.poll(0.05)
        client.poll(0)
    if client.flush(120) or None in located:
        raise FloodwallError("bench: the broker did not acknowledge the pre-loaded events")
    return [where for where in located if where is not None]

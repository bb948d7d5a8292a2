"""How Floodwall's own Kafka clients (consumers, their dead-letter producer, the autoscaler, topic
creation) reach a secured cluster: librdkafka *connection* settings only — TLS, SASL, sockets, DNS.

An allow-list rather than "any librdkafka setting": these services set their delivery and commit
semantics themselves (exactly-once depends on them), so only how to connect is the user's to choose.
Values are secrets (passwords, keys): they are never printed. One environment variable,
``FLOODWALL_KAFKA_CONNECTION`` (a JSON object), reaches every service.

:class:`SinkGroupSettings` declares, once, the settings of every service that reads or watches the sink's
consumer group: its cluster, the connection, the group and its topics.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, SecretStr

from floodwall.settings import ServiceSettings

# librdkafka's own lines of Floodwall's admin clients ("Connect to ... failed" while a broker restarts)
# go through logging, not raw stderr, so that a program showing progress on a terminal decides where
# they go ({"logger": KAFKA_CLIENT_LOG} in a client's configuration).
KAFKA_CLIENT_LOG = logging.getLogger("floodwall.kafka.client")

ALLOWED_PREFIXES = ("security.", "ssl.", "sasl.", "socket.", "client.dns.", "broker.address.")
ALLOWED_KEYS = frozenset({"client.rack", "enable.ssl.certificate.verification", "ssl_key", "ssl_certificate"})


def _topic_name(value: str) -> str:
    # Kafka's own rule for legal topic names.
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", value) or value in {".", ".."}:
        raise ValueError("a topic name is 1-249 characters of letters, digits, '.', '_' or '-'")
    return value


TopicName = Annotated[str, AfterValidator(_topic_name)]
"""A setting naming a Kafka topic, validated by Kafka's rule for legal names."""


def _only_connection_keys(config: dict[str, SecretStr]) -> dict[str, SecretStr]:
    refused = sorted(k for k in config if not (k.startswith(ALLOWED_PREFIXES) or k in ALLOWED_KEYS))
    if refused:
        raise ValueError(
            f"only connection settings are allowed here (security.protocol, ssl.*, sasl.*, socket.*, "
            f"client.dns.*, broker.address.*, client.rack), not {', '.join(refused)}"
        )
    return config


KafkaConnection = Annotated[dict[str, SecretStr], AfterValidator(_only_connection_keys)]


def kafka_connection_field() -> Any:
    """The ``kafka_connection`` setting, declared alike by every service with a Kafka client."""
    return Field(
        default_factory=dict,
        description="librdkafka connection settings for a secured cluster (security.protocol, ssl.*, "
        "sasl.*; a JSON object, as flag or env FLOODWALL_KAFKA_CONNECTION; values never shown)",
    )


def connection_conf(config: Mapping[str, SecretStr]) -> dict[str, str]:
    """The settings as librdkafka takes them (secrets revealed: pass to the client, never log)."""
    return {key: value.get_secret_value() for key, value in config.items()}


class EventTopicsSettings(ServiceSettings):
    """Where the Kafka cluster and the event topics are: a base, not a service (it has no ``section``).

    Subclassed by every command that reads or writes the event topics as the sink does, so
    ``FLOODWALL_ORDERS_TOPIC`` and the rest mean the same topics to each of them. A subclass may re-declare
    a field to give it another default (a redeclared field keeps its place: flags are listed in this order).
    """

    bootstrap_servers: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers")
    kafka_connection: KafkaConnection = kafka_connection_field()
    orders_topic: TopicName = Field("orders", description="topic of order events")
    inventory_topic: TopicName = Field("inventory", description="topic of inventory events")


class SinkGroupSettings(EventTopicsSettings):
    """Where the sink's consumer group and its topics are: a base, not a service (it has no ``section``).

    Subclassed by the consumers, ``floodwall offsets`` and the autoscaler, so ``FLOODWALL_GROUP_ID`` means
    the same group to each of them.
    """

    group_id: str = Field("floodwall-sink", min_length=1, description="consumer group of the sink fleet")

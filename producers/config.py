"""Settings of the producer SDK (also used by ``floodwall produce`` and ``floodwall bench sdk``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, SecretStr, model_validator

from floodwall.kafkaconn import TopicName
from floodwall.localstack import default_state_dir
from floodwall.redact import MASK
from floodwall.settings import ServiceSettings

# librdkafka settings the SDK owns: overriding them would break its guarantees.
MANAGED_KAFKA_KEYS = frozenset(
    {
        "bootstrap.servers",
        "enable.idempotence",
        "acks",
        "client.id",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "queue.buffering.max.messages",
        "linger.ms",
        "compression.type",
        "allow.auto.create.topics",
        "on_delivery",
        "error_cb",
        "max.in.flight.requests.per.connection",
    }
)


class ProducerSettings(ServiceSettings):
    """How the SDK reaches the broker and where it spools events during an outage."""

    section: ClassVar[str] = "producer"

    bootstrap_servers: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers (host:port,...)")
    orders_topic: TopicName = Field("orders", description="topic of order events (key: order id)")
    inventory_topic: TopicName = Field("inventory", description="topic of inventory events (key: SKU)")
    client_id: str = Field("floodwall-sdk", min_length=1, max_length=200, description="Kafka client.id")
    spool_dir: Path = Field(
        default_factory=lambda: default_state_dir() / "spool" / "default",
        description="directory of the outage spool (one producer process per directory)",
    )
    spool_max_bytes: int = Field(256 * 2**20, ge=2**20, description="bound of the outage spool in bytes")
    queue_max_messages: int = Field(
        200_000,
        ge=1000,
        le=10_000_000,
        description="events held in memory before emit() applies backpressure",
    )
    emit_timeout_s: float = Field(
        5.0, ge=0, le=3600, description="how long emit() blocks on a full queue before raising"
    )
    delivery_timeout_s: float = Field(
        30.0, ge=1, le=3600, description="after this an unacknowledged event moves to the spool"
    )
    linger_ms: float = Field(5.0, ge=0, le=1000, description="how long the client batches before sending")
    compression: Literal["none", "lz4", "zstd", "snappy", "gzip"] = Field(
        "lz4", description="batch compression"
    )
    kafka_config: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="extra librdkafka settings, e.g. TLS/SASL (a JSON object in flag or env; values never "
        "shown)",
    )

    @model_validator(mode="after")
    def _no_managed_keys(self) -> Self:
        clash = sorted(MANAGED_KAFKA_KEYS & set(self.kafka_config))
        if clash:
            raise ValueError(
                f"kafka_config may not set {', '.join(clash)}: the SDK sets them to keep its delivery "
                f"guarantees (use the dedicated settings where one exists)"
            )
        return self

    def librdkafka(self) -> dict[str, Any]:
        """The client configuration: idempotent, acks=all, the SDK's bounds, plus ``kafka_config``."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "enable.idempotence": True,  # implies acks=all and ordered, duplicate-free retries
            "acks": "all",
            "message.timeout.ms": int(self.delivery_timeout_s * 1000),
            "queue.buffering.max.messages": self.queue_max_messages,
            "linger.ms": self.linger_ms,
            "compression.type": self.compression,
            # Never let a metadata probe create a topic with the broker's default partition count.
            "allow.auto.create.topics": False,
        }
        conf.update({k: v.get_secret_value() for k, v in self.kafka_config.items()})
        return conf

    def redacted(self) -> dict[str, Any]:
        """The settings for logs: every kafka_config value hidden."""
        data = self.model_dump(mode="json")
        data["kafka_config"] = {k: MASK for k in self.kafka_config}
        return data

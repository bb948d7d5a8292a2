"""Settings of one consumer process (``floodwall consume``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from floodwall.kafkaconn import KafkaConnection, kafka_connection_field
from floodwall.settings import ServiceSettings
from floodwall.stack.config import TopicName, default_state_dir


class ConsumerSettings(ServiceSettings):
    """One member of the sink's consumer group."""

    section: ClassVar[str] = "consumer"

    bootstrap_servers: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers")
    kafka_connection: KafkaConnection = kafka_connection_field()
    group_id: str = Field("floodwall-sink", min_length=1, description="consumer group of the sink fleet")
    orders_topic: TopicName = Field("orders", description="topic of order events")
    inventory_topic: TopicName = Field("inventory", description="topic of inventory events")
    dlq_topic: TopicName = Field("dlq", description="dead-letter topic for events that cannot be applied")
    database_url: str = Field(
        "", description="libpq URL of the HAProxy write port (default: the local stack's)"
    )
    state_dir: Path = Field(
        default_factory=default_state_dir, description="the local stack's state directory"
    )
    batch_max_events: int = Field(5000, ge=1, le=1_000_000, description="most events per DB transaction")
    batch_max_bytes: int = Field(8 * 2**20, ge=1024, description="most message bytes per DB transaction")
    batch_linger_s: float = Field(0.2, ge=0, le=60, description="how long to wait to fill a batch")
    # Tansu takes about half the session timeout to let a member join: keep it short (DESIGN.md §6).
    session_timeout_ms: int = Field(6000, ge=1000, le=300_000, description="consumer group session timeout")
    heartbeat_interval_ms: int = Field(1000, ge=100, le=60_000, description="consumer group heartbeat")
    # Also the rebalance timeout a member announces. Tansu can hold a rebalance that long for members that
    # left in the middle of it (two consumers stopped at once): 300 s, librdkafka's default, stranded the
    # survivor for minutes in 2 of 7 trials; 30 s gave no stall in 5 (docs/consumers.md).
    max_poll_interval_ms: int = Field(
        30_000, ge=10_000, description="librdkafka max.poll.interval.ms (also the rebalance timeout)"
    )
    db_retry_max_s: float = Field(120.0, ge=1, description="how long a batch retries a failing database")
    metrics_host: str = Field(
        "127.0.0.1", description="address of /metrics, /healthz, /readyz (0.0.0.0 in pods)"
    )
    metrics_port: int = Field(
        19300, ge=0, le=65535, description="port of /metrics, /healthz, /readyz (0 = any)"
    )
    write_budget_rows_per_s: float = Field(
        0.0, ge=0, description="rows/s the whole fleet may write (split by partitions; 0 = unlimited)"
    )
    commit_latency_target_s: float = Field(
        2.0, gt=0, description="a batch commit slower than this halves the write rate (adaptive throttle)"
    )

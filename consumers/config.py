"""Settings of one consumer process (``floodwall consume``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from floodwall.dburl import DatabaseUrl, database_url_field
from floodwall.kafkaconn import SinkGroupSettings, TopicName, connection_conf
from floodwall.localstack import state_dir_field


class ConsumerSettings(SinkGroupSettings):
    """One member of the sink's consumer group."""

    section: ClassVar[str] = "consumer"

    dlq_topic: TopicName = Field("dlq", description="dead-letter topic for events that cannot be applied")
    dlq_timeout_s: float = Field(
        30.0, gt=0, le=600,
        description="how long dead letters may take to be acknowledged; past it their partitions pause "
        "and are retried after a back-off (nothing committed past them)",
    )  # fmt: skip
    database_url: DatabaseUrl = database_url_field()
    state_dir: Path = state_dir_field()
    batch_max_events: int = Field(5000, ge=1, le=1_000_000, description="most events per DB transaction")
    batch_max_bytes: int = Field(8 * 2**20, ge=1024, description="most message bytes per DB transaction")
    batch_linger_s: float = Field(0.2, ge=0, le=60, description="how long to wait to fill a batch")
    # Classic is the default because it measured better here (docs/kafka.md, `floodwall bench rebalance`):
    # a kill -9 stalled the whole KIP-848 fleet for 11.4 s against 2.2 s, and a scale-up cost 5.3 s of
    # ingestion against 0.7 s (librdkafka 2.16, Kafka 4.4).
    group_protocol: Literal["classic", "consumer"] = Field(
        "classic",
        description="consumer group protocol: 'classic' (cooperative-sticky: incremental rebalances) or "
        "'consumer' (KIP-848: the broker assigns; session timeout set broker-side, Kafka >= 4.0)",
    )
    # Classic protocol only (KIP-848 members get both from the broker: group.consumer.session.timeout.ms).
    session_timeout_ms: int = Field(
        6000, ge=1000, le=300_000, description="classic protocol: consumer group session timeout"
    )
    heartbeat_interval_ms: int = Field(
        1000, ge=100, le=60_000, description="classic protocol: consumer group heartbeat"
    )
    max_poll_interval_ms: int = Field(
        300_000, ge=10_000, description="librdkafka max.poll.interval.ms (also the classic rebalance timeout)"
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
    # Where one process could feed any budget its database takes (a small machine), the fleet never needs
    # a second replica; the cap is what a pod's CPU limit would impose in a cluster.
    replica_max_rows_per_s: float = Field(
        0.0, ge=0, description="rows/s one consumer may write whatever its budget share (a stand-in for a "
        "pod's CPU limit; 0 = no cap)",
    )  # fmt: skip
    commit_latency_target_s: float = Field(
        2.0, gt=0, description="a batch commit slower than this halves the write rate (adaptive throttle)"
    )


def client_config(s: ConsumerSettings) -> dict[str, object]:
    """librdkafka settings of a sink member for its group protocol (connection settings merged in)."""
    conf: dict[str, object] = {
        "bootstrap.servers": s.bootstrap_servers,
        "group.id": s.group_id,
        "enable.auto.commit": False,
        # Never jump elsewhere in the log on its own: a position outside the log is reported and the
        # partition stopped (consumers/outofrange.py). Partitions with no stored offset start at
        # OFFSET_BEGINNING explicitly, so this never applies to a new group.
        "auto.offset.reset": "error",
        "max.poll.interval.ms": s.max_poll_interval_ms,
        "fetch.max.bytes": max(s.batch_max_bytes, 1024 * 1024),
        "logger": logging.getLogger("floodwall.consumers.librdkafka"),
        **connection_conf(s.kafka_connection),
    }
    if s.group_protocol == "consumer":
        # KIP-848: the broker assigns; session and heartbeat are broker settings, and librdkafka refuses
        # to start when session.timeout.ms, heartbeat.interval.ms or an assignor are set.
        conf["group.protocol"] = "consumer"
    else:
        conf.update(
            {
                "group.protocol": "classic",
                # Incremental like KIP-848: members keep their partitions through a rebalance.
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": s.session_timeout_ms,
                "heartbeat.interval.ms": s.heartbeat_interval_ms,
            }
        )
    return conf

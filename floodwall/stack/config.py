"""Configuration of the local embedded stack (``floodwall stack …``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from floodwall.db.roles import RUNTIME_GROUP_ROLE

# Re-exported from the core, where the services take them from.
from floodwall.kafkaconn import TopicName as TopicName
from floodwall.localstack import default_state_dir as default_state_dir
from floodwall.localstack import state_dir_field
from floodwall.settings import ServiceSettings

Port = Annotated[int, Field(ge=1024, le=65535)]


def _sql_identifier(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise ValueError("use lower-case letters, digits and '_' (max 63), starting with a letter or '_'")
    return value


def default_kafka_lib_dir() -> Path:
    """Where ``scripts/setup.sh`` puts Apache Kafka's jars: inside the environment Floodwall is installed
    in (the virtualenv), so a checkout's set-up and its CLI always agree on one Kafka."""
    return Path(sys.prefix) / "share" / "floodwall" / "kafka" / "lib"


SqlIdentifier = Annotated[str, AfterValidator(_sql_identifier)]


class StackSettings(ServiceSettings):
    """Ports, paths and tuning of the local stack. Every port binds 127.0.0.1 only."""

    section: ClassVar[str] = "stack"

    state_dir: Path = state_dir_field("directory holding all data, configs, logs and PIDs")
    broker_port: Port = Field(
        19092,
        description="Kafka client port of broker 1; its KRaft controller port is +1, broker N uses "
        "broker_port + 2(N-1) and +1",
    )
    brokers: int = Field(
        1,
        ge=1,
        le=3,
        description="Kafka brokers, 1 or 3 (KRaft combined nodes): 3 keep every topic 3 times, min ISR 2",
    )
    broker_heap_mb: int = Field(512, ge=128, le=8192, description="Java heap of each Kafka broker, MiB")
    etcd_client_port: Port = Field(12379, description="etcd client port (Patroni's DCS)")
    etcd_peer_port: Port = Field(12380, description="etcd peer port")
    pg_nodes: int = Field(3, ge=1, le=5, description="number of Patroni-managed PostgreSQL nodes")
    pg_base_port: Port = Field(15441, description="PostgreSQL port of node 1; node N uses base+N-1")
    patroni_rest_base_port: Port = Field(18441, description="Patroni REST port of node 1; node N: base+N-1")
    haproxy_write_port: Port = Field(15430, description="HAProxy port routed to the primary")
    haproxy_read_port: Port = Field(15431, description="HAProxy port routed to the streaming replicas")
    haproxy_stats_port: Port = Field(18404, description="HAProxy stats page and Prometheus /metrics")
    prometheus_port: Port = Field(19090, description="Prometheus web/API port")
    partitions: int = Field(12, ge=1, le=1024, description="partitions per topic (ceiling on parallelism)")
    orders_topic: TopicName = Field("orders", description="topic of order events (key: order id)")
    inventory_topic: TopicName = Field("inventory", description="topic of inventory events (key: SKU)")
    dlq_topic: TopicName = Field("dlq", description="dead-letter topic")
    synchronous_mode: bool = Field(
        True, description="Patroni synchronous_mode: a failover never loses an acknowledged commit"
    )
    patroni_ttl: int = Field(10, ge=5, le=300, description="Patroni leader-key TTL in seconds")
    patroni_loop_wait: int = Field(2, ge=1, le=60, description="Patroni HA loop interval in seconds")
    patroni_retry_timeout: int = Field(4, ge=1, le=120, description="Patroni DCS/PG retry timeout, s")
    db_name: SqlIdentifier = Field("floodwall", description="database the sink writes to")
    db_user: SqlIdentifier = Field(
        "floodwall", description="runtime role the sink connects as (DML on the sink tables only)"
    )
    db_owner: SqlIdentifier = Field(
        "floodwall_owner", description="role that owns the sink schema and runs the migrations"
    )
    postgres_os_user: str = Field(
        "postgres", description="OS user that runs Patroni/PostgreSQL when the stack is started as root"
    )
    pg_bin_dir: Path = Field(Path("/usr/lib/postgresql/15/bin"), description="PostgreSQL 15 binaries")
    patroni_bin: str = Field("patroni", description="Patroni executable (name on PATH or path)")
    etcd_bin: str = Field("etcd", description="etcd executable")
    haproxy_bin: str = Field("haproxy", description="HAProxy executable")
    prometheus_bin: str = Field("prometheus", description="Prometheus executable")
    java_bin: str = Field("java", description="Java >= 17 executable that runs the Kafka brokers")
    kafka_lib_dir: Path = Field(
        default_factory=default_kafka_lib_dir,
        description="directory of Apache Kafka's jars (scripts/setup.sh fills it from Maven Central)",
    )
    group_session_timeout_ms: int = Field(
        6000,
        ge=1000,
        le=300_000,
        description="broker-side session timeout of consumer-protocol (KIP-848) group members: how soon "
        "a crashed consumer's partitions move",
    )
    ready_timeout_s: float = Field(120.0, gt=0, le=3600, description="how long `up` waits for readiness")

    @model_validator(mode="after")
    def _ports_distinct(self) -> Self:
        seen: dict[int, str] = {}
        for name, port in self.named_ports():
            if port in seen:
                raise ValueError(f"settings {seen[port]} and {name} both use port {port}")
            seen[port] = name
        return self

    @model_validator(mode="after")
    def _roles_distinct(self) -> Self:
        reserved = {"postgres", "replicator", "rewinder", RUNTIME_GROUP_ROLE}
        if self.db_user == self.db_owner or {self.db_user, self.db_owner} & reserved:
            raise ValueError(
                f"db_user and db_owner must differ and not be one of {', '.join(sorted(reserved))}"
            )
        return self

    @field_validator("brokers")
    @classmethod
    def _one_or_three(cls, value: int) -> int:
        # Two KRaft controllers survive no failure (a majority of 2 is 2): no better than one broker.
        if value not in (1, 3):
            raise ValueError("use 1 broker, or 3 (a quorum that survives one failure)")
        return value

    @model_validator(mode="after")
    def _patroni_timing_rule(self) -> Self:
        # Patroni's documented rule (docs/stack.md): broken, the leader loses its key in a DCS hiccup.
        if self.patroni_loop_wait + 2 * self.patroni_retry_timeout > self.patroni_ttl:
            raise ValueError(
                f"Patroni needs patroni_loop_wait + 2 x patroni_retry_timeout <= patroni_ttl, got "
                f"{self.patroni_loop_wait} + 2 x {self.patroni_retry_timeout} > {self.patroni_ttl}"
            )
        return self

    def named_ports(self) -> list[tuple[str, int]]:
        """Every port the stack binds, with the setting it comes from."""
        ports = []
        for i in range(self.brokers):
            ports.append((f"broker_port(+{2 * i})", self.broker_port + 2 * i))
            ports.append((f"broker_port(+{2 * i + 1}, controller)", self.broker_port + 2 * i + 1))
        ports += [
            ("etcd_client_port", self.etcd_client_port),
            ("etcd_peer_port", self.etcd_peer_port),
            ("haproxy_write_port", self.haproxy_write_port),
            ("haproxy_read_port", self.haproxy_read_port),
            ("haproxy_stats_port", self.haproxy_stats_port),
            ("prometheus_port", self.prometheus_port),
        ]
        for i in range(self.pg_nodes):
            ports.append((f"pg_base_port(+{i})", self.pg_base_port + i))
            ports.append((f"patroni_rest_base_port(+{i})", self.patroni_rest_base_port + i))
        return ports

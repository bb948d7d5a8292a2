"""Where every part of the local stack keeps its files and which ports it binds (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from floodwall.localstack import CLIENT_PGPASS, STATE_FILE
from floodwall.stack.config import StackSettings

HOST = "127.0.0.1"
PATRONI_SCOPE = "floodwall"
PATRONI_API_USER = "floodwall"  # user name for the Patroni REST API's unsafe endpoints


@dataclass(frozen=True)
class PgNode:
    """One Patroni-managed PostgreSQL node."""

    name: str
    pg_port: int
    rest_port: int
    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "patroni.yml"

    @property
    def pgpass(self) -> Path:
        return self.home / "pgpass"

    @property
    def pg_log_dir(self) -> Path:
        return self.home / "pglog"

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    @property
    def part(self) -> str:
        """The name under which the node's Patroni process is recorded and shown."""
        return f"patroni-{self.name}"


@dataclass(frozen=True)
class KafkaNode:
    """One Apache Kafka node in KRaft combined mode (broker and controller in one JVM)."""

    node_id: int
    client_port: int
    controller_port: int
    home: Path

    @property
    def part(self) -> str:
        return f"broker-{self.node_id}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_dir(self) -> Path:
        """Kafka's data (``log.dirs``): the topics' segments and the KRaft metadata log."""
        return self.home / "data"

    @property
    def formatted(self) -> Path:
        """Written by ``kafka.tools.StorageTool format``; its presence means the storage is formatted."""
        return self.log_dir / "meta.properties"


@dataclass(frozen=True)
class Layout:
    """Derived paths and endpoints of one stack instance."""

    settings: StackSettings

    @property
    def root(self) -> Path:
        return self.settings.state_dir

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def client_pgpass(self) -> Path:
        """Password file for clients of the HAProxy ports (the sink, migrations, tests)."""
        return self.root / CLIENT_PGPASS

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pg_root(self) -> Path:
        """Parent of the nodes' homes; owned by the PostgreSQL OS user."""
        return self.root / "pg"

    @property
    def socket_dir(self) -> Path:
        return self.pg_root / "run"

    @property
    def etcd_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def haproxy_config(self) -> Path:
        return self.root / "haproxy" / "haproxy.cfg"

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus" / "prometheus.yml"

    @property
    def prometheus_data(self) -> Path:
        return self.root / "prometheus" / "data"

    @property
    def prometheus_rules(self) -> Path:
        """Floodwall's alert rules, copied from the package (the Helm chart ships the same file)."""
        return self.root / "prometheus" / "alerts.yaml"

    @property
    def prometheus_targets_dir(self) -> Path:
        """File-based service discovery: consumers and the autoscaler drop ``<job>-<id>.json`` here."""
        return self.root / "prometheus" / "targets"

    def log_file(self, part: str) -> Path:
        return self.logs_dir / f"{part}.log"

    @cached_property
    def nodes(self) -> tuple[PgNode, ...]:
        s = self.settings
        return tuple(
            PgNode(
                name=f"n{i + 1}",
                pg_port=s.pg_base_port + i,
                rest_port=s.patroni_rest_base_port + i,
                home=self.pg_root / f"n{i + 1}",
            )
            for i in range(s.pg_nodes)
        )

    @property
    def kafka_root(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_cluster_file(self) -> Path:
        """The KRaft cluster id and the broker count its storage was formatted for."""
        return self.kafka_root / "cluster.json"

    @property
    def kafka_log4j_config(self) -> Path:
        return self.kafka_root / "log4j2.yaml"

    @cached_property
    def brokers(self) -> tuple[KafkaNode, ...]:
        s = self.settings
        return tuple(
            KafkaNode(
                node_id=i + 1,
                client_port=s.broker_port + 2 * i,
                controller_port=s.broker_port + 2 * i + 1,
                home=self.kafka_root / f"b{i + 1}",
            )
            for i in range(s.brokers)
        )

    @property
    def replication_factor(self) -> int:
        """Copies of each topic partition: one per broker (1 or 3)."""
        return len(self.brokers)

    @property
    def min_insync_replicas(self) -> int:
        """Copies that must hold an ``acks=all`` write: 2 of 3, so one broker may die without loss."""
        return 2 if len(self.brokers) >= 3 else 1

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(b.address for b in self.brokers)

    @property
    def etcd_url(self) -> str:
        return f"http://{HOST}:{self.settings.etcd_client_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.settings.prometheus_port}"

    @property
    def haproxy_stats_url(self) -> str:
        return f"http://{HOST}:{self.settings.haproxy_stats_port}"

    def write_dsn(self, user: str | None = None, dbname: str | None = None) -> str:
        """libpq URL of the HAProxy write port, as the runtime role ``db_user`` unless ``user`` is given;
        the password comes from the stack's pgpass file."""
        s = self.settings
        return (
            f"postgresql://{user or s.db_user}@{HOST}:{s.haproxy_write_port}/{dbname or s.db_name}"
            f"?passfile={self.client_pgpass}&connect_timeout=3&application_name=floodwall"
        )

    def owner_dsn(self) -> str:
        """The write port as the schema owner ``db_owner``: for migrations and other DDL."""
        return self.write_dsn(user=self.settings.db_owner)

    def read_dsn(self) -> str:
        """libpq URL of the HAProxy read port (streaming replicas)."""
        s = self.settings
        return (
            f"postgresql://{s.db_user}@{HOST}:{s.haproxy_read_port}/{s.db_name}"
            f"?passfile={self.client_pgpass}&connect_timeout=3&application_name=floodwall"
        )

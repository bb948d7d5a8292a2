"""Generated configuration and command lines of the stack's daemons (pure functions, no I/O).

Patroni and Prometheus read YAML; JSON is valid YAML, so both are written with :mod:`json` and no
YAML library is needed.
"""

from __future__ import annotations

import json
from typing import Any

from floodwall.stack.layout import HOST, PATRONI_API_USER, PATRONI_SCOPE, KafkaNode, Layout, PgNode
from floodwall.stack.state import Secrets


def kafka_properties(layout: Layout, node: KafkaNode) -> dict[str, str]:
    """``server.properties`` of one KRaft combined node (broker + controller) with a static quorum."""
    s = layout.settings
    rf = str(layout.replication_factor)
    min_isr = str(layout.min_insync_replicas)
    voters = ",".join(f"{b.node_id}@{HOST}:{b.controller_port}" for b in layout.brokers)
    session_ms = s.group_session_timeout_ms
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{node.address},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.address}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.log_dir),
        # Topics are created deliberately (`stack up`, `floodwall topics create`): a misspelt topic name
        # must fail, not silently become a new topic nobody consumes.
        "auto.create.topics.enable": "false",
        "num.partitions": str(s.partitions),
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        # A local stack's first group should not wait 3 s for more members.
        "group.initial.rebalance.delay.ms": "0",
        # KIP-848 members: session and heartbeat are set broker-side. Lower floors than Kafka's 45 s / 5 s
        # so a crashed consumer's partitions move within seconds (docs/kafka.md).
        "group.consumer.min.session.timeout.ms": str(min(session_ms, 1000)),
        "group.consumer.session.timeout.ms": str(session_ms),
        "group.consumer.min.heartbeat.interval.ms": "500",
        "group.consumer.heartbeat.interval.ms": str(max(500, session_ms // 6)),
        # Two cores on the machines this stack targets: fewer threads than Kafka's defaults (3 and 8).
        "num.network.threads": "2",
        "num.io.threads": "4",
    }


def render_kafka_properties(layout: Layout, node: KafkaNode) -> str:
    return "".join(f"{k}={v}\n" for k, v in kafka_properties(layout, node).items())


def render_kafka_log4j() -> str:
    """log4j2 for the brokers: warnings, plus start-up, shutdown and group membership changes."""
    loggers = ["kafka.server.KafkaRaftServer", "kafka.server.BrokerServer",
               "org.apache.kafka.coordinator.group.GroupMetadataManager"]  # fmt: skip
    return "\n".join(
        [
            "Configuration:",
            "  Appenders:",
            "    Console:",
            "      name: STDOUT",
            "      PatternLayout:",
            '        pattern: "[%d] %p %m (%c)%n"',
            "  Loggers:",
            "    Root:",
            "      level: WARN",
            "      AppenderRef:",
            "        - ref: STDOUT",
            "    Logger:",
            *[line for name in loggers for line in (f"      - name: {name}", "        level: INFO")],
            "",
        ]
    )


def kafka_classpath(layout: Layout) -> str:
    return str(layout.settings.kafka_lib_dir / "*")


def kafka_argv(layout: Layout, node: KafkaNode) -> list[str]:
    s = layout.settings
    return [
        s.java_bin,
        f"-Xms{s.broker_heap_mb}m",
        f"-Xmx{s.broker_heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={layout.kafka_log4j_config}",
        "-cp",
        kafka_classpath(layout),
        "kafka.Kafka",
        str(node.config_file),
    ]


def kafka_format_argv(layout: Layout, node: KafkaNode, cluster_id: str) -> list[str]:
    """Format a node's storage for ``cluster_id`` (static quorum: no ``--standalone``)."""
    return [
        layout.settings.java_bin,
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={layout.kafka_log4j_config}",
        "-cp",
        kafka_classpath(layout),
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        str(node.config_file),
    ]


def etcd_argv(layout: Layout) -> list[str]:
    s = layout.settings
    client = f"http://{HOST}:{s.etcd_client_port}"
    peer = f"http://{HOST}:{s.etcd_peer_port}"
    return [
        s.etcd_bin,
        "--name",
        "floodwall-etcd",
        "--data-dir",
        str(layout.etcd_dir),
        "--listen-client-urls",
        client,
        "--advertise-client-urls",
        client,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        f"floodwall-etcd={peer}",
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        "floodwall",
        "--log-level",
        "warn",
    ]


def patroni_argv(layout: Layout, node: PgNode) -> list[str]:
    return [layout.settings.patroni_bin, str(node.config_file)]


def haproxy_argv(layout: Layout) -> list[str]:
    # -db: stay in the foreground so the recorded PID is HAProxy's own.
    return [layout.settings.haproxy_bin, "-db", "-f", str(layout.haproxy_config)]


def prometheus_argv(layout: Layout) -> list[str]:
    s = layout.settings
    return [
        s.prometheus_bin,
        f"--config.file={layout.prometheus_config}",
        f"--storage.tsdb.path={layout.prometheus_data}",
        f"--web.listen-address={HOST}:{s.prometheus_port}",
        "--storage.tsdb.retention.time=7d",
        "--web.enable-lifecycle",
    ]


def patroni_config(layout: Layout, node: PgNode, pw: Secrets) -> dict[str, Any]:
    """Patroni settings for ``node``. Timings as measured in docs/stack.md (ttl 10, loop_wait 2, retry 4)."""
    s = layout.settings
    return {
        "scope": PATRONI_SCOPE,
        "namespace": "/service/",
        "name": node.name,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"{HOST}:{node.rest_port}",
            "connect_address": f"{HOST}:{node.rest_port}",
            # Basic auth on the unsafe endpoints (switchover, failover, restart, reinitialize, reload,
            # PATCH/PUT /config): any local user could otherwise take the cluster over. GET/OPTIONS health
            # checks (HAProxy, the probes, Prometheus) stay open. patronictl -c this file uses it too.
            "authentication": {"username": PATRONI_API_USER, "password": pw.patroni_api},
        },
        "etcd3": {"hosts": f"{HOST}:{s.etcd_client_port}"},
        "bootstrap": {
            # Applied at the first bootstrap only; later changes need `patronictl edit-config`.
            "dcs": {
                "ttl": s.patroni_ttl,
                "loop_wait": s.patroni_loop_wait,
                "retry_timeout": s.patroni_retry_timeout,
                "maximum_lag_on_failover": 1048576,
                # Promote only a synchronous standby: an acknowledged commit survives a failover.
                "synchronous_mode": s.synchronous_mode,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "max_connections": 200,
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "128MB",
                        "wal_log_hints": "on",
                        # Replicas retry the stream every second instead of every 5 s.
                        "wal_retrieve_retry_interval": "1s",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"{HOST}:{node.pg_port}",
            "connect_address": f"{HOST}:{node.pg_port}",
            "data_dir": str(node.data_dir),
            "bin_dir": str(s.pg_bin_dir),
            "pgpass": str(node.pgpass),
            # A fast checkpoint gets a new replica streaming in seconds rather than ~14 s.
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                "superuser": {"username": "postgres", "password": pw.superuser},
                "replication": {"username": "replicator", "password": pw.replication},
                "rewind": {"username": "rewinder", "password": pw.rewind},
            },
            "parameters": {
                "unix_socket_directories": str(layout.socket_dir),
                # Owner only, like the 0700 directory it lives in ("local all all trust" below).
                "unix_socket_permissions": "0700",
                "shared_buffers": "128MB",
                "logging_collector": "on",
                "log_directory": str(node.pg_log_dir),
                "log_filename": "postgresql.log",
            },
            "pg_hba": [
                "local all all trust",
                # The replication line is not covered by `host all all`.
                f"host replication replicator {HOST}/32 scram-sha-256",
                f"host all all {HOST}/32 scram-sha-256",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def render_patroni(layout: Layout, node: PgNode, pw: Secrets) -> str:
    return json.dumps(patroni_config(layout, node, pw), indent=2) + "\n"


def _haproxy_listen(name: str, port: int, check_uri: str, layout: Layout, balance: str = "") -> list[str]:
    lines = [f"listen {name}", f"    bind {HOST}:{port}"]
    if balance:
        lines.append(f"    balance {balance}")
    lines += [
        "    option httpchk",
        # OPTIONS, not GET: Patroni 3.0.2 logs a traceback for every GET health check.
        f"    http-check send meth OPTIONS uri {check_uri}",
        "    http-check expect status 200",
        "    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
    ]
    lines += [
        f"    server {n.name} {HOST}:{n.pg_port} maxconn 300 check port {n.rest_port}" for n in layout.nodes
    ]
    return [*lines, ""]


def render_haproxy(layout: Layout) -> str:
    """HAProxy: write port → the node answering 200 on /primary; read port → /replica nodes."""
    s = layout.settings
    head = [
        "global",
        "    maxconn 2000",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    retries 2",
        "    timeout connect 3s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 2s",
        "    timeout queue 5s",
        "",
        "frontend stats",
        "    mode http",
        f"    bind {HOST}:{s.haproxy_stats_port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        "    stats refresh 5s",
        "",
    ]
    body = _haproxy_listen("pg_write", s.haproxy_write_port, "/primary", layout)
    body += _haproxy_listen("pg_read", s.haproxy_read_port, "/replica", layout, balance="roundrobin")
    return "\n".join(head + body)


def prometheus_config(layout: Layout) -> dict[str, Any]:
    """Scrape the stack's parts, plus any service that drops a target file into the targets dir; evaluate
    Floodwall's alert rules."""
    s = layout.settings

    def static(job: str, targets: list[str]) -> dict[str, Any]:
        return {"job_name": job, "static_configs": [{"targets": targets}]}

    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        # The same alert rules as the Helm chart's PrometheusRule (floodwall/monitoring/alerts.yaml).
        "rule_files": [str(layout.prometheus_rules)],
        "scrape_configs": [
            static("prometheus", [f"{HOST}:{s.prometheus_port}"]),
            static("haproxy", [f"{HOST}:{s.haproxy_stats_port}"]),
            static("etcd", [f"{HOST}:{s.etcd_client_port}"]),
            static("patroni", [f"{HOST}:{n.rest_port}" for n in layout.nodes]),
            {
                # floodwall services (consumers, autoscaler, loadgen) register themselves here.
                "job_name": "floodwall",
                "file_sd_configs": [
                    {"files": [str(layout.prometheus_targets_dir / "*.json")], "refresh_interval": "5s"}
                ],
            },
        ],
    }


def render_prometheus(layout: Layout) -> str:
    return json.dumps(prometheus_config(layout), indent=2) + "\n"

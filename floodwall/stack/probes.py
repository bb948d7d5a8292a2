"""Read-only health probes of the stack's parts. Every probe is bounded by a short timeout and
returns data or raises :class:`ProbeFailed` with a reason a person can act on."""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient

# Re-exported: the stack's probes raise ProbeFailed, and the stack commands use the HTTP helpers.
from floodwall.httpclient import ProbeFailed as ProbeFailed
from floodwall.httpclient import http_get as http_get
from floodwall.httpclient import http_json as http_json
from floodwall.stack.layout import HOST, KafkaNode, Layout, PgNode


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' source ports (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def etcd_healthy(layout: Layout) -> None:
    doc = http_json(layout.etcd_url + "/health")
    if str(doc.get("health")) != "true":
        raise ProbeFailed(f"etcd reports {doc}")


def patroni_rest_up(node: PgNode) -> dict[str, Any]:
    """The node's own view (``GET /patroni``); any HTTP answer means its REST API is serving."""
    doc = http_json(node.rest_url + "/patroni")
    if not isinstance(doc, dict):
        raise ProbeFailed(f"{node.name}: unexpected /patroni answer")
    return doc


@dataclass(frozen=True)
class Member:
    """One Patroni member as seen in ``GET /cluster``."""

    name: str
    role: str
    state: str
    lag_bytes: int | None
    timeline: int | None

    @property
    def is_leader(self) -> bool:
        return self.role in {"leader", "master", "standby_leader"}


def patroni_members(layout: Layout) -> list[Member]:
    """Cluster membership from the first node whose REST API answers."""
    reasons = []
    for node in layout.nodes:
        try:
            doc = http_json(node.rest_url + "/cluster")
        except ProbeFailed as exc:
            reasons.append(str(exc))
            continue
        return [_member(m) for m in doc.get("members", [])]
    raise ProbeFailed("no Patroni REST API answers: " + "; ".join(reasons))


def _member(raw: dict[str, Any]) -> Member:
    lag = raw.get("lag")
    return Member(
        name=str(raw.get("name")),
        role=str(raw.get("role")),
        state=str(raw.get("state")),
        lag_bytes=lag if isinstance(lag, int) else None,
        timeline=raw.get("timeline"),
    )


def write_port_accepts_write(layout: Layout) -> None:
    """A read-write transaction succeeds through the HAProxy write port (as the superuser)."""
    try:
        with psycopg.connect(layout.write_dsn(user="postgres", dbname="postgres"), autocommit=True) as conn:
            conn.execute("SELECT txid_current()")  # fails on a read-only (standby) node
    except psycopg.Error as exc:
        raise ProbeFailed(f"write port: {str(exc).strip().splitlines()[0]}") from None


def streaming_replicas(layout: Layout) -> list[dict[str, Any]]:
    """``pg_stat_replication`` rows on the primary, via the write port."""
    query = "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1"
    try:
        with psycopg.connect(layout.write_dsn(user="postgres", dbname="postgres"), autocommit=True) as conn:
            rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:
        raise ProbeFailed(f"write port: {str(exc).strip().splitlines()[0]}") from None
    return [{"name": r[0], "state": r[1], "sync_state": r[2]} for r in rows]


def haproxy_backends(layout: Layout) -> dict[str, dict[str, str]]:
    """{proxy: {server: status}} from HAProxy's CSV stats (status: UP, DOWN, …)."""
    status, body = http_get(layout.haproxy_stats_url + "/stats;csv")
    if status != 200:
        raise ProbeFailed(f"HAProxy stats answered HTTP {status}")
    reader = csv.DictReader(io.StringIO(body.decode().lstrip("# ")))
    result: dict[str, dict[str, str]] = {}
    for row in reader:
        if row["svname"] in {"FRONTEND", "BACKEND"}:
            continue
        result.setdefault(row["pxname"], {})[row["svname"]] = row["status"]
    return result


def _quiet_admin(bootstrap_servers: str) -> AdminClient:
    # log_level 0: a probe reports its failure itself; librdkafka's "connection refused" lines while a
    # broker starts would only bury the progress lines of `stack up`.
    return AdminClient({"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 2000, "log_level": 0})


def broker_topics(layout: Layout, timeout_s: float = 3.0) -> dict[str, int]:
    """{topic: partition count} from the broker's metadata."""
    admin = _quiet_admin(layout.bootstrap_servers)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # confluent-kafka raises KafkaException with a librdkafka error inside
        raise ProbeFailed(f"broker {layout.bootstrap_servers}: {exc}") from None
    return {name: len(t.partitions) for name, t in metadata.topics.items() if not name.startswith("__")}


def broker_serves(layout: Layout, node: KafkaNode, timeout_s: float = 3.0) -> None:
    """``node`` itself answers a metadata request and the cluster lists all of the stack's brokers. The
    cluster's metadata alone would not do after a restart: a broker killed a moment ago is listed until
    its registration lapses, and its port may not be serving yet."""
    admin = _quiet_admin(node.address)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # KafkaException with a librdkafka error inside
        raise ProbeFailed(f"broker {node.address}: {exc}") from None
    if metadata.orig_broker_id != node.node_id:
        raise ProbeFailed(f"broker {node.address}: answered by broker {metadata.orig_broker_id}")
    expected = len(layout.brokers)
    if len(metadata.brokers) < expected:
        raise ProbeFailed(f"{len(metadata.brokers)} of {expected} brokers registered")


def group_coordinator_ready(layout: Layout, timeout_s: float = 3.0) -> None:
    """A consumer group's coordinator answers: the offsets topic exists and has leaders. On a new cluster
    the first group request creates that topic; until it is ready, OffsetFetch requests fail (and one
    client library crashes on them: floodwall/offsets.py), so `stack up` waits for it."""
    admin = _quiet_admin(layout.bootstrap_servers)
    try:
        admin.describe_consumer_groups(["floodwall-stack-probe"], request_timeout=timeout_s)[
            "floodwall-stack-probe"
        ].result()
    except Exception as exc:  # KafkaException: NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE while it starts
        raise ProbeFailed(f"group coordinator: {exc}") from None


def prometheus_ready(layout: Layout) -> None:
    status, _ = http_get(layout.prometheus_url + "/-/ready")
    if status != 200:
        raise ProbeFailed(f"Prometheus not ready (HTTP {status})")


def prometheus_targets(layout: Layout) -> list[dict[str, str]]:
    doc = http_json(layout.prometheus_url + "/api/v1/targets?state=active")
    return [
        {
            "job": t["labels"].get("job", ""),
            "instance": t["labels"].get("instance", ""),
            "health": t["health"],
        }
        for t in doc.get("data", {}).get("activeTargets", [])
    ]

"""Measure: one :class:`~autoscaler.model.Snapshot` per tick, from the Kafka admin API and Patroni's REST API.

- **Offsets**: per partition of the consumed topics, the log end (ListOffsets "latest") and the group's
  committed offset (OffsetFetch), asked for together so the snapshot is one moment. The sink commits to
  Kafka right after each database commit, so the committed offsets trail PostgreSQL's truth by one batch
  at most, so Floodwall, Kafka's own tools and KEDA read the same lag.
- **Rates**: ingress and egress (events/s) from the deltas of the summed end and committed offsets
  between two ticks.
- **Per-replica throughput**: egress ÷ replicas, smoothed, taken only while the fleet was saturated —
  every replica had work (lag in at least as many partitions as replicas), more was waiting than the
  fleet applied since the last tick, and it was not throttled — so an idle, keeping-up or budget-limited
  fleet is never mistaken for a slow one (the simulator measures the same way).
- **Throttle state** (optional, when a Prometheus URL is set): any consumer with paused partitions or a
  throttle factor below 1.
- **Database health** (optional, when Patroni URLs are set): a running leader is a healthy primary; no
  leader, or a leader that changed within ``failover_settle_s``, is a failover in progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from floodwall.autoscaler.model import HEALTHY_DB, DbHealth, PartitionOffsets, Snapshot
from floodwall.errors import FloodwallError
from floodwall.httpclient import ProbeFailed, http_get
from floodwall.offsets import GroupPositionReader, OffsetsUnavailable


class MeasureError(FloodwallError):
    """The broker or the consumer group could not be read this tick (the message says which and why)."""


@dataclass(frozen=True)
class MeasureConfig:
    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...]
    patroni_urls: tuple[str, ...] = ()
    prometheus_url: str = ""
    timeout_s: float = 10.0
    failover_settle_s: float = 30.0
    connection: Mapping[str, str] = field(default_factory=dict)  # TLS/SASL (floodwall.kafkaconn)
    throughput_smoothing: float = 0.3  # weight of the newest per-replica observation (EWMA)


class Measurer:
    """Builds snapshots; keeps only what rates and the failover window need from the previous tick."""

    def __init__(self, config: MeasureConfig) -> None:
        self.config = config
        self._positions = GroupPositionReader(
            {
                "bootstrap.servers": config.bootstrap_servers,
                "socket.timeout.ms": int(config.timeout_s * 1000),
                **config.connection,
            },
            config.group_id,
            config.topics,
            config.timeout_s,
        )
        self._previous: tuple[float, int, int] | None = None  # at, summed end offsets, summed committed
        self._throughput: float | None = None
        self._leader: str | None = None
        self._leader_changed_at = float("-inf")

    def snapshot(self, current_replicas: int, now: float | None = None) -> Snapshot:
        """One snapshot. Raises MeasureError when the broker or the group cannot be read."""
        at = time.monotonic() if now is None else now
        partitions = self.offsets()
        ingress, egress, elapsed = self._rates(at, partitions)
        throttled = self.fleet_throttled()
        self._observe_throughput(partitions, egress, elapsed, current_replicas, throttled)
        return Snapshot(
            at_s=at,
            current_replicas=current_replicas,
            partitions=partitions,
            ingress_events_per_s=ingress,
            egress_events_per_s=egress,
            replica_throughput_events_per_s=self._throughput,
            fleet_throttled=throttled,
            db=self.db_health(at),
        )

    # ---- Kafka ---------------------------------------------------------------------------------

    def offsets(self) -> tuple[PartitionOffsets, ...]:
        c = self.config
        try:
            positions = self._positions.read()
        except OffsetsUnavailable as exc:
            raise MeasureError(f"{exc} (broker {c.bootstrap_servers})") from exc
        return tuple(
            PartitionOffsets(p.topic, p.partition, p.end_offset, p.committed_offset) for p in positions
        )

    def _rates(
        self, at: float, partitions: Sequence[PartitionOffsets]
    ) -> tuple[float | None, float | None, float]:
        """Ingress and egress (events/s) since the last tick, and the seconds since it (None, None, 0.0 at
        the first tick)."""
        end = sum(p.end_offset for p in partitions)
        done = sum(p.committed_offset for p in partitions if p.committed_offset is not None)
        previous, self._previous = self._previous, (at, end, done)
        if previous is None or at <= previous[0]:
            return None, None, 0.0
        elapsed = at - previous[0]
        return max(0.0, (end - previous[1]) / elapsed), max(0.0, (done - previous[2]) / elapsed), elapsed

    def _observe_throughput(
        self,
        partitions: Sequence[PartitionOffsets],
        egress: float | None,
        elapsed_s: float,
        replicas: int,
        throttled: bool,
    ) -> None:
        busy = sum(1 for p in partitions if (p.lag or 0) > 0)
        if egress is None or replicas < 1 or throttled or busy < replicas or egress <= 0:
            return  # an idle, starved or held-back fleet says nothing about what a replica can do
        if sum(p.lag or 0 for p in partitions) < egress * elapsed_s:
            # Less waiting than the fleet applied since the last tick: it kept up, so its egress was the
            # ingress, not its capacity. (A fleet keeping up always shows some lag — the batch in flight —
            # and taking that for saturation once read 277 events/s per replica off a 100 events/s
            # warm-up and scaled 1 -> 4 before the sale began.)
            return
        observed = egress / replicas
        w = self.config.throughput_smoothing
        self._throughput = observed if self._throughput is None else w * observed + (1 - w) * self._throughput

    # ---- consumers (Prometheus) ----------------------------------------------------------------

    def fleet_throttled(self) -> bool:
        """Any consumer paused or throttled, per Prometheus (False without a Prometheus URL or on error:
        the policy then relies on the configured budget alone)."""
        if not self.config.prometheus_url:
            return False
        query = "max(floodwall_consumer_paused_partitions) > 0 or min(floodwall_consumer_throttle_factor) < 1"
        url = f"{self.config.prometheus_url.rstrip('/')}/api/v1/query?query={quote(query)}"
        try:
            status, body = http_get(url, timeout_s=self.config.timeout_s)
            return status == 200 and bool(json.loads(body)["data"]["result"])
        except (ProbeFailed, OSError, ValueError, KeyError):
            return False

    # ---- database (Patroni) --------------------------------------------------------------------

    def db_health(self, at: float) -> DbHealth:
        """From the first Patroni REST URL that answers ``/cluster``; healthy when none is configured."""
        if not self.config.patroni_urls:
            return HEALTHY_DB
        for base in self.config.patroni_urls:
            try:
                status, body = http_get(f"{base.rstrip('/')}/cluster", timeout_s=self.config.timeout_s)
                members = json.loads(body)["members"] if status == 200 else None
            except (ProbeFailed, OSError, ValueError, KeyError):
                continue
            if members is not None:
                return self._judge(at, members)
        return DbHealth(False, False, "no Patroni REST endpoint answered")

    def _judge(self, at: float, members: Sequence[Mapping[str, object]]) -> DbHealth:
        leaders = [
            m for m in members if m.get("role") in ("leader", "master") and m.get("state") == "running"
        ]
        if not leaders:
            return DbHealth(False, True, "no running leader: failover in progress")
        name = str(leaders[0].get("name"))
        if self._leader is not None and name != self._leader:
            self._leader_changed_at = at
        self._leader = name
        settling = at - self._leader_changed_at < self.config.failover_settle_s
        detail = f"leader {name}" + (" (new: settling after a failover)" if settling else "")
        return DbHealth(True, settling, detail)

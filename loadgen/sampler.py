"""Series sampled while a run goes on: Kafka lag, and hooks for replicas and database commit latency.

A :class:`Sampler` thread calls each probe every ``interval_s`` and keeps ``(seconds since t = 0,
value)`` points; a probe that returns None (or raises) leaves a gap. Probes are plain callables, so
whoever drives a run can feed series it knows better: the autoscaler's replica count, say::

    probes = default_probes(...) | {"replicas": lambda: float(actuator.current())}

Defaults: ``lag_events`` from the Kafka admin API; ``replicas``, ``commit_p99_s``, ``rows_per_s`` and
``rows_per_event`` from Prometheus
when one is reachable (consumers register with the local stack's Prometheus).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from floodwall.httpclient import ProbeFailed, http_json

# OffsetSpec's and AdminClient's documented home is confluent_kafka.admin, whose stub lacks OffsetSpec.
from floodwall.offsets import ClientValue, GroupPositionReader, OffsetsUnavailable

log = logging.getLogger(__name__)

Probe = Callable[[], float | None]
Point = tuple[float, float]


def replicas_query(group: str) -> str:
    """Consumers of ``group`` that Prometheus scrapes successfully (targets carry ``consumer_group``, so
    other groups' consumers on the same stack do not count)."""
    return f'count(up{{service="consumer", consumer_group="{_promql_string(group)}"}} == 1)'


def commit_p99_query(group: str) -> str:
    selector = f'{{consumer_group="{_promql_string(group)}"}}'
    rate = f"rate(floodwall_consumer_commit_seconds_bucket{selector}[15s])"
    return f"histogram_quantile(0.99, sum by (le) ({rate}))"


def rows_written_query(group: str) -> str:
    """Rows/s the group writes into PostgreSQL: what its write budget limits."""
    selector = f'{{consumer_group="{_promql_string(group)}"}}'
    return f"sum(rate(floodwall_consumer_rows_written_total{selector}[15s]))"


def rows_per_event_query(group: str) -> str:
    """Rows one applied event wrote, over the last minute (the mix of the traffic decides it)."""
    selector = f'{{consumer_group="{_promql_string(group)}"}}'
    return (
        f"sum(rate(floodwall_consumer_rows_written_total{selector}[1m])) / "
        f"sum(rate(floodwall_consumer_events_applied_total{selector}[1m]))"
    )


def _promql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass
class Series:
    """Named series of (seconds since t = 0, value)."""

    points: dict[str, list[Point]] = field(default_factory=dict)

    def add(self, name: str, t: float, value: float) -> None:
        self.points.setdefault(name, []).append((round(t, 3), value))

    def peak(self, name: str) -> float | None:
        values = [v for _, v in self.points.get(name, [])]
        return max(values) if values else None


class Sampler:
    """Calls every probe each ``interval_s`` on a daemon thread, from :meth:`start` until :meth:`stop`."""

    def __init__(self, probes: Mapping[str, Probe], interval_s: float) -> None:
        self.probes = dict(probes)
        self.interval_s = interval_s
        self.series = Series()
        self._zero = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loadgen-sampler", daemon=True)

    def start(self, zero: float) -> None:
        """Start sampling; times are seconds since the wall-clock time ``zero`` (the profile's t = 0)."""
        self._zero = zero
        self._thread.start()

    def stop(self) -> Series:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        return self.series

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            for name, probe in self.probes.items():
                try:
                    value = probe()
                except Exception as exc:  # a probe must never stop the others, nor the run
                    log.debug("probe %s failed: %s", name, exc)
                    value = None
                if value is not None:
                    self.series.add(name, began - self._zero, value)
            self._stop.wait(max(0.0, self.interval_s - (time.time() - began)))


class KafkaLag:
    """Total lag of a consumer group over some topics: end offsets minus committed offsets.

    The sink commits Kafka offsets after its database commit, so this is the lag standard tools see.
    """

    def __init__(self, bootstrap_servers: str, group: str, topics: list[str]) -> None:
        conf: dict[str, ClientValue] = {"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 5000}
        self._positions = GroupPositionReader(conf, group, topics, timeout_s=5)

    def __call__(self) -> float | None:
        try:
            positions = self._positions.read()
        except OffsetsUnavailable as exc:
            log.debug("lag probe: %s", exc)
            return None
        # A partition without a committed offset has everything up to its end outstanding.
        return float(sum(p.end_offset - (p.committed_offset or 0) for p in positions))


class PrometheusQuery:
    """One instant PromQL query; None when Prometheus is unreachable or the result is empty or NaN."""

    def __init__(self, base_url: str, query: str, timeout_s: float = 2.0) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
        self._timeout = timeout_s

    def __call__(self) -> float | None:
        try:
            body = http_json(self._url, self._timeout)
        except ProbeFailed:
            return None
        result = body.get("data", {}).get("result", [])
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value  # NaN: no commits in the window


def default_probes(
    bootstrap_servers: str, group: str, topics: list[str], prometheus_url: str | None
) -> dict[str, Probe]:
    probes: dict[str, Probe] = {"lag_events": KafkaLag(bootstrap_servers, group, topics)}
    if prometheus_url:
        probes["replicas"] = PrometheusQuery(prometheus_url, replicas_query(group))
        probes["commit_p99_s"] = PrometheusQuery(prometheus_url, commit_p99_query(group))
        probes["rows_per_s"] = PrometheusQuery(prometheus_url, rows_written_query(group))
        probes["rows_per_event"] = PrometheusQuery(prometheus_url, rows_per_event_query(group))
    return probes

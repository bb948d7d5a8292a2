"""Fault-test harness: a workload produced through the SDK, a fleet of real `floodwall consume`
processes, and the invariants checked in PostgreSQL against what the SDK acknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from prometheus_client import CollectorRegistry

from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import DeliveryStatus
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import clean_env


@dataclass
class Workload:
    """Orders (3 items each) and restocks; a double-applied restock would show in the stock levels."""

    layout: Layout
    orders: int
    restocks: int
    restock_skus: int = 200  # distinct SKUs the restocks spread over
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    expected_stock: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0

    @property
    def topics(self) -> list[str]:
        return [f"f-orders-{self.suffix}", f"f-inventory-{self.suffix}"]

    def events(self) -> list[Event]:
        made: list[Event] = []
        for n in range(self.orders):
            items = [OrderItem(sku=f"S-{n % 50}", quantity=1, unit_price_minor=100 + k) for k in range(3)]
            made.append(
                OrderEvent.placed(
                    order_id=uuid.uuid4(), customer_id=f"c-{n}", region="eu", currency="EUR", items=items
                )
            )
        for n in range(self.restocks):
            sku = f"F-{self.suffix}-{n % self.restock_skus}"
            self.expected_stock[sku] += 1 + n % 5
            made.append(InventoryEvent.restock(sku=sku, warehouse="w1", quantity=1 + n % 5))
        return made

    def produce(self, spool_dir: Path) -> None:
        """Create the topics and produce everything; every event must be acknowledged."""
        ensure_topics(self.layout.bootstrap_servers, self.topics, 12)
        settings = load_settings(
            ProducerSettings,
            {
                "bootstrap_servers": self.layout.bootstrap_servers,
                "orders_topic": self.topics[0],
                "inventory_topic": self.topics[1],
                "spool_dir": spool_dir,
            },
        )
        with EventProducer(settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
            handles = [producer.emit(e) for e in self.events()]
            assert producer.flush(120) == 0
        assert all(h.status is DeliveryStatus.ACKNOWLEDGED for h in handles)
        self.acknowledged = len(handles)

    def processed(self) -> int:
        return _scalar(
            self.layout.write_dsn(),
            "SELECT count(*) FROM processed_events WHERE source_topic = ANY(%s)",
            self.topics,
        )

    def _processed_or_last(self, last: int) -> int:
        """Progress, or the last reading while the database is failing over (this harness polls through
        the same HAProxy write port as the consumers)."""
        try:
            return self.processed()
        except psycopg.OperationalError:
            return max(last, 0)

    def wait_processed(self, timeout_s: float) -> float:
        """Wait until every acknowledged event is in processed_events; return the longest stall in s."""
        deadline = time.monotonic() + timeout_s
        last, last_change, stall = -1, time.monotonic(), 0.0
        while (done := self._processed_or_last(last)) < self.acknowledged:
            now = time.monotonic()
            if done != last:
                stall = max(stall, now - last_change)
                last, last_change = done, now
            assert now < deadline, f"only {done} of {self.acknowledged} events processed"
            time.sleep(0.5)
        return max(stall, time.monotonic() - last_change)

    def verify(self) -> None:
        """Every acknowledged event applied exactly once: counts by effect, not only by id."""
        dsn = self.layout.write_dsn()
        assert self.processed() == self.acknowledged
        assert (
            _scalar(
                dsn,
                "SELECT count(*) FROM processed_events WHERE source_topic = ANY(%s) AND outcome = 'applied'",
                self.topics,
            )
            == self.acknowledged
        )
        assert (
            _scalar(
                dsn,
                "SELECT count(*) FROM orders o JOIN processed_events p ON p.event_id = o.last_event_id "
                "WHERE p.source_topic = %s",
                self.topics[0],
            )
            == self.orders
        )
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT sku, available FROM stock_levels WHERE sku LIKE %s", (f"F-{self.suffix}-%",)
            ).fetchall()
        assert {sku: int(n) for sku, n in rows} == dict(self.expected_stock)


def _scalar(dsn: str, query: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode(), params).fetchone()
    return int(str(row[0])) if row else 0


@dataclass
class Fleet:
    """Real `floodwall consume` processes of one consumer group."""

    workload: Workload
    logs: Path
    group: str = field(default_factory=lambda: f"fleet-{uuid.uuid4().hex[:8]}")
    members: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0
    extra_flags: list[str] = field(default_factory=list)

    def start(self, count: int = 1) -> None:
        layout = self.workload.layout
        for _ in range(count):
            self.started += 1
            log = (self.logs / f"consumer-{self.started}.log").open("wb")
            self.members.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "floodwall",
                        "consume",
                        "--bootstrap-servers",
                        layout.bootstrap_servers,
                        "--group-id",
                        self.group,
                        "--orders-topic",
                        self.workload.topics[0],
                        "--inventory-topic",
                        self.workload.topics[1],
                        "--dlq-topic",
                        f"dlq-{self.group}",
                        "--database-url",
                        layout.write_dsn(),
                        "--state-dir",  # register with the test stack's Prometheus, never a live demo's
                        str(layout.settings.state_dir),
                        "--batch-max-events",
                        "2000",
                        "--metrics-port",
                        "0",
                        *self.extra_flags,  # later flags win: a test may override the batch size
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=clean_env(),
                )
            )

    def kill(self, index: int = 0) -> None:
        """kill -9 one member (no goodbye: its partitions move after the session timeout)."""
        member = self.members.pop(index)
        member.send_signal(signal.SIGKILL)
        member.wait(10)

    def terminate(self, index: int = 0, count: int = 1) -> None:
        """SIGTERM ``count`` members at the same instant: each finishes its batch and leaves the group."""
        leaving = [self.members.pop(index) for _ in range(count)]
        for member in leaving:
            member.send_signal(signal.SIGTERM)
        for member in leaving:
            assert member.wait(30) == 0, f"consumer exited badly; see {self.logs}"

    def stop_all(self) -> None:
        while self.members:
            member = self.members.pop()
            member.send_signal(signal.SIGTERM)
            try:
                member.wait(30)
            except subprocess.TimeoutExpired:
                member.kill()

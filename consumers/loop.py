"""One member of the sink fleet: poll a batch → decode → commit → pause when the budget says so.

Exactly-once effect: PostgreSQL, not Kafka, holds the truth about progress. On assignment each partition
is positioned at the offset stored with the rows (consumers/partitions.py); a batch advances it in the
same transaction as its rows, fenced against zombies, and Kafka offsets are committed afterwards only so
standard tools see the lag — the whole order is in consumers/committer.py. A ``kill -9`` at any point
loses nothing and applies nothing twice: the next owner of the partition resumes from the stored offset.

This module only wires the rooms together, polls, hands batches on, pauses for the write budget, serves
the probes and logs a periodic summary (derived from the metrics, the one set of counters).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from floodwall.consumers.committer import Committer, Outcome
from floodwall.consumers.config import ConsumerSettings, client_config
from floodwall.consumers.dbretry import Abandoned, OutageRetry
from floodwall.consumers.decoder import Batch, decode_batch
from floodwall.consumers.dlq import DeadLetterQueue
from floodwall.consumers.metrics import ConsumerMetrics, Totals
from floodwall.consumers.partitions import PartitionTracker
from floodwall.consumers.ratelimit import AdaptiveThrottle, MemberBudget
from floodwall.consumers.sink import ApplyResult, PostgresSink
from floodwall.events.codec import EventDeserializer
from floodwall.httpserve import ServiceHttp
from floodwall.kafkaconn import connection_conf
from floodwall.promtargets import register_target
from floodwall.schemas.registry import SchemaRegistry

log = logging.getLogger(__name__)

T = TypeVar("T")

REPORT_EVERY_S = 10.0  # the summary line, the re-check of stopped partitions, refused commits resent


class SinkConsumer:
    """Consumes the order and inventory topics into PostgreSQL until :meth:`stop` is called."""

    def __init__(
        self,
        settings: ConsumerSettings,
        database_url: str,
        registry: SchemaRegistry | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        s = self.settings = settings
        self.metrics_registry = metrics_registry or CollectorRegistry()
        self.metrics = ConsumerMetrics.create(self.metrics_registry)
        self.http_port: int | None = None
        self._started = self._last_tick = time.monotonic()
        self._stopping = threading.Event()
        self._deserialize = EventDeserializer(registry)
        self._sink = PostgresSink(database_url, s.group_id)  # clients connect lazily
        self._dlq = DeadLetterQueue(
            s.bootstrap_servers, s.dlq_topic, s.group_id, connection_conf(s.kafka_connection), s.dlq_timeout_s
        )
        # Commit results are served inside consume(), to the tracker made just below.
        self._consumer = Consumer({**client_config(s), "on_commit": self._on_commit})
        self._budget = MemberBudget(
            s.write_budget_rows_per_s, AdaptiveThrottle(s.commit_latency_target_s), s.replica_max_rows_per_s
        )
        # The tracker reads stored offsets through the retry, and the retry pauses through the tracker:
        # _retry_db breaks the cycle.
        self._tracker = PartitionTracker(self._consumer, self.metrics, self._sink, self._retry_db)
        self._db = OutageRetry(
            s.db_retry_max_s, self._stopping, self._sink, self._budget.failed,
            self._tracker.pause_for_outage, self._tracker.end_outage,
        )  # fmt: skip
        self._committer = Committer(self._sink, self._dlq, self._tracker, self._db)
        self._partitions_total: int | None = None

    def _retry_db(self, work: Callable[[], T]) -> T:
        return self._db(work)

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        self._tracker.on_commit(error, partitions)

    @property
    def totals(self) -> Totals:
        """Counts since start, read from :attr:`metrics` (there is no second set of counters)."""
        return self.metrics.totals()

    # ---- lifecycle --------------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until :meth:`stop`; then leave the group cleanly. A batch in progress is finished."""
        s = self.settings
        self._subscribe()
        http = ServiceHttp(s.metrics_host, s.metrics_port, self.metrics_registry, self._healthy, self._ready)
        self.http_port = http.port
        labels = {"service": "consumer", "consumer_group": s.group_id}  # as the chart labels its targets
        unregister = register_target(s.state_dir, f"consumer-{s.group_id}", http.port, labels)
        log.info("metrics and probes on http://%s:%d/metrics", s.metrics_host, http.port)
        try:
            self._poll_until_stopped()
        except Abandoned as exc:
            # Nothing of the batch was committed: the partitions' next owner re-reads it from Postgres.
            log.warning("%s; the batch is left to the next owner of its partitions", exc)
        finally:
            self._report()
            unregister()
            http.close()
            self._consumer.close()  # commits nothing (auto commit off); leaves the group at once
            self._dlq.close()
            self._sink.close()

    def stop(self) -> None:
        self._stopping.set()

    def _poll_until_stopped(self) -> None:
        s = self.settings
        last_report = time.monotonic()
        while not self._stopping.is_set():
            self._last_tick = time.monotonic()
            wait = self._budget.delay(time.monotonic())
            self._tracker.hold(wait > 0)
            # Paused partitions yield nothing: consume() then only waits and serves the group protocol.
            timeout = min(wait, 1.0) if wait > 0 else s.batch_linger_s
            messages = self._consumer.consume(self._budget.batch_events(s.batch_max_events), timeout=timeout)
            if self._tracker.rebalanced:
                self._settle_rebalance()
            if messages:
                self.process(messages)
            if time.monotonic() - last_report > REPORT_EVERY_S:
                self._report()
                self._tracker.recheck_stopped()
                self._tracker.republish()
                last_report = time.monotonic()

    def _subscribe(self) -> None:
        s = self.settings
        self._consumer.subscribe(
            [s.orders_topic, s.inventory_topic],
            on_assign=self._tracker.on_assign,
            on_revoke=self._tracker.on_revoke,
            on_lost=self._tracker.on_revoke,  # lost (session expired): another member may own them already
        )

    def _healthy(self) -> tuple[bool, str]:
        idle = time.monotonic() - self._last_tick
        # A batch may legitimately spend db_retry_max_s retrying a failing database.
        return idle < self.settings.db_retry_max_s + 60, f"loop last ran {idle:.1f} s ago"

    def _ready(self) -> tuple[bool, str]:
        if not self._tracker.joined:
            return False, "not yet a member of the consumer group"
        if self._db.failing:
            return False, "database unavailable; retrying"
        return True, f"ready: {len(self._tracker.positions)} partitions positioned"

    # ---- write budget -----------------------------------------------------------------------------

    def _settle_rebalance(self) -> None:
        """After a rebalance: the tracker settles the partitions, then this member's budget share."""
        mine = self._tracker.settle()
        s = self.settings
        if not self._budget.limited:
            return
        # With only a replica cap the partition count does not matter (and is not asked for).
        total = self._partition_total() if s.write_budget_rows_per_s > 0 else 1
        if total is None:  # the broker is away: keep the current share and try again after the next poll
            self._tracker.rebalanced = True
            return
        share = self._budget.assign(mine, total, time.monotonic())
        cap = s.replica_max_rows_per_s or "no cap"
        log.info("write budget: %.0f rows/s of %.0f for the fleet, %s per replica (%d of %d partitions)",
                 share, s.write_budget_rows_per_s, cap, mine, total)  # fmt: skip

    def _partition_total(self) -> int | None:
        """Partitions of the two topics (read once: adding partitions would break per-key order, so the
        count does not change under a running fleet); None while the broker cannot be asked."""
        if self._partitions_total is None:
            s = self.settings
            try:
                metadata = self._consumer.list_topics(timeout=5)
            except KafkaException as exc:
                log.warning(
                    "cannot read the topics' partitions (%s); the write budget share waits", exc.args[0]
                )
                return None
            topics = [metadata.topics[t] for t in (s.orders_topic, s.inventory_topic) if t in metadata.topics]
            self._partitions_total = sum(len(t.partitions) for t in topics) or None
        return self._partitions_total

    # ---- one batch --------------------------------------------------------------------------------

    def process(self, messages: Sequence[Message]) -> ApplyResult | None:
        """Decode, validate and apply one batch of messages exactly once. Returns what was applied, or
        None when nothing was committed (nothing new, fenced, or the dead-letter topic failed)."""
        batch = decode_batch(messages, self._tracker.positions, self._deserialize)
        self._tracker.stop_misfits(batch.misfits)
        if not batch.spans:
            return None
        outcome = self._committer.commit(batch)
        if outcome.status == "fenced":
            self.metrics.fenced.inc()
        if outcome.status != "committed":
            return None
        self._budget.spend(outcome.result.rows, outcome.result.seconds, time.monotonic())
        self._observe(messages, batch, outcome)
        return outcome.result

    def _observe(self, messages: Sequence[Message], batch: Batch, outcome: Outcome) -> None:
        m, result = self.metrics, outcome.result
        for topic in {msg.topic() or "" for msg in messages}:
            m.consumed.labels(topic).inc(sum(1 for msg in messages if msg.topic() == topic))
        m.applied.inc(result.applied)
        m.rows_written.inc(result.rows)
        for code, n in result.rejections.items():
            m.rejected.labels(code).inc(n)
        m.duplicates.inc(result.duplicates)
        for letter in batch.letters + outcome.refused:
            m.dead_letters.labels(letter.error_class).inc()
        m.batch_events.observe(len(batch.events))
        m.commit_seconds.observe(result.seconds)
        self._tracker.observe_lag()
        m.rate_limit.set(self._budget.bucket.rate)
        m.throttle.set(self._budget.throttle.factor)

    def _report(self) -> None:
        t = self.totals
        log.info(
            "applied %d, rejected %d, duplicates dropped %d, dead letters %d in %d batches (%.0f s)",
            t.applied, t.rejected, t.duplicates, t.dead_letters, t.batches, time.monotonic() - self._started,
        )  # fmt: skip

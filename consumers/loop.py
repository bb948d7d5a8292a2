"""One member of the sink fleet: poll a batch → decode → validate → dead letters → one DB transaction.

Exactly-once effect: PostgreSQL, not Kafka, holds the truth about progress. On assignment each partition
is positioned at the offset stored with the rows (:meth:`PostgresSink.stored_offsets`); a batch advances
it in the same transaction as its rows, fenced against zombies; Kafka offsets are committed afterwards
only so standard tools see the lag. A ``kill -9`` at any point loses nothing and applies nothing twice:
the next owner of the partition resumes from the stored offset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from floodwall.consumers.batching import Batch, sort_batch
from floodwall.consumers.config import ConsumerSettings, client_config
from floodwall.consumers.dbretry import Abandoned, retry_transient
from floodwall.consumers.dlq import DeadLetterFailed, DeadLetterQueue
from floodwall.consumers.dlqstall import DeadLetterStall
from floodwall.consumers.letters import DeadLetter
from floodwall.consumers.metrics import ConsumerMetrics
from floodwall.consumers.outofrange import StoppedPartitions
from floodwall.consumers.ratelimit import AdaptiveThrottle, MemberBudget
from floodwall.consumers.sink import ApplyResult, Fenced, Poisoned, PostgresSink, Span
from floodwall.httpserve import ServiceHttp
from floodwall.kafkaconn import connection_conf
from floodwall.promtargets import register_target
from floodwall.redact import error_line
from floodwall.schemas.registry import SchemaRegistry

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]
T = TypeVar("T")


@dataclass
class Totals:
    """Running counts for logs (and, later, metrics)."""

    batches: int = 0
    applied: int = 0
    rejected: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    fenced: int = 0
    started: float = field(default_factory=time.monotonic)


class SinkConsumer:
    """Consumes the order and inventory topics into PostgreSQL until :meth:`stop` is called."""

    def __init__(
        self,
        settings: ConsumerSettings,
        database_url: str,
        registry: SchemaRegistry | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.totals = Totals()
        self.metrics_registry = metrics_registry or CollectorRegistry()
        self.metrics = ConsumerMetrics.create(self.metrics_registry)
        self.http_port: int | None = None
        self._last_tick = time.monotonic()
        self._joined = False
        self._db_failing = False
        self._registry = registry or SchemaRegistry.default()
        self._sink = PostgresSink(database_url, settings.group_id)
        self._dlq = DeadLetterQueue(
            settings.bootstrap_servers, settings.dlq_topic, settings.group_id,
            connection_conf(settings.kafka_connection), settings.dlq_timeout_s,
        )  # fmt: skip
        self._consumer = Consumer(client_config(settings))
        self._next: dict[TopicPart, int] = {}  # where the stored (committed-with-rows) offsets stand
        self._stopping = threading.Event()
        self._budget = MemberBudget(
            settings.write_budget_rows_per_s, AdaptiveThrottle(settings.commit_latency_target_s)
        )
        self._paused: list[TopicPartition] = []
        self._stopped = StoppedPartitions(self._consumer, self.metrics.offset_out_of_range)
        m = self.metrics
        self._dlq_stall = DeadLetterStall(
            self._consumer, self._stopped, m.dead_letter_stalled, m.dead_letter_failures
        )
        self._owned: set[TopicPart] = set()  # what the callbacks assigned: no client call needed to count
        self._to_check: dict[TopicPart, int] = {}  # stored offsets to hold against the log, once settled
        self._rebalanced = False
        self._partitions_total: int | None = None

    # ---- lifecycle --------------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until :meth:`stop`; then leave the group cleanly. A batch in progress is finished."""
        s = self.settings
        self._subscribe()
        last_report = time.monotonic()
        http = ServiceHttp(s.metrics_host, s.metrics_port, self.metrics_registry, self._healthy, self._ready)
        self.http_port = http.port
        labels = {"service": "consumer", "consumer_group": s.group_id}  # as the chart labels its targets
        unregister = register_target(s.state_dir, f"consumer-{s.group_id}", http.port, labels)
        log.info("metrics and probes on http://%s:%d/metrics", s.metrics_host, http.port)
        try:
            while not self._stopping.is_set():
                self._last_tick = time.monotonic()
                wait = self._budget.delay(time.monotonic())
                self._hold(wait > 0)
                # Paused partitions yield nothing: consume() then only waits and serves the group protocol.
                timeout = min(wait, 1.0) if wait > 0 else s.batch_linger_s
                messages = self._consumer.consume(s.batch_max_events, timeout=timeout)
                if self._rebalanced:
                    self._settle_rebalance()
                if messages:
                    self.process(messages)
                if time.monotonic() - last_report > 10:
                    self._report()
                    self._recheck_stopped()
                    last_report = time.monotonic()
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

    def _healthy(self) -> tuple[bool, str]:
        idle = time.monotonic() - self._last_tick
        # A batch may legitimately spend db_retry_max_s retrying a failing database.
        return idle < self.settings.db_retry_max_s + 60, f"loop last ran {idle:.1f} s ago"

    def _ready(self) -> tuple[bool, str]:
        if not self._joined:
            return False, "not yet a member of the consumer group"
        if self._db_failing:
            return False, "database unavailable; retrying"
        return True, f"ready: {len(self._next)} partitions positioned"

    # ---- rebalance --------------------------------------------------------------------------------
    # Both protocols are incremental (KIP-848, or classic with cooperative-sticky): each callback lists
    # only the partitions that change hands, and this member keeps consuming the others meanwhile.
    # The callbacks only position and forget partitions. Whatever asks the broker (metadata for the write
    # budget, log bounds for the misfit check) waits for _settle_rebalance, after consume() returns: a
    # blocking client call made inside a callback leaves confluent-kafka without its call state, and the
    # next callback of the same consume() aborts the process (CallState_get assertion, seen on KIP-848).

    def _subscribe(self) -> None:
        s = self.settings
        self._consumer.subscribe(
            [s.orders_topic, s.inventory_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,  # lost (session expired): another member may own them already
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Position each new partition at the offset stored with the rows (the beginning if none)."""
        stored = self._stored_offsets(partitions)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            tp.offset = stored.get(key, OFFSET_BEGINNING)
            if key in stored:
                self._next[key] = stored[key]
        consumer.incremental_assign(partitions)
        self._owned.update((tp.topic, tp.partition) for tp in partitions)
        self._to_check.update(stored)
        self._joined = True
        self._rebalanced = True
        if partitions:
            log.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget the partitions' positions: their next owner reads them from PostgreSQL again."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._next.pop(key, None)
            self._stopped.release(key)
            with contextlib.suppress(KeyError):  # another member reports this partition's lag now
                self.metrics.lag.remove(tp.topic, str(tp.partition))
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._paused = [tp for tp in self._paused if (tp.topic, tp.partition) not in gone]
        self._owned -= gone
        for key in gone:
            self._to_check.pop(key, None)
        consumer.incremental_unassign(partitions)
        self._rebalanced = True
        if partitions:
            log.info("revoked %d partitions", len(partitions))

    def _settle_rebalance(self) -> None:
        """After a rebalance, outside its callbacks: check new positions, resume, re-divide the budget."""
        self._rebalanced = False
        checks, self._to_check = self._to_check, {}
        for key, offset in checks.items():
            self._stopped.check(key, offset)
        self._commit_to_kafka({k: o for k, o in checks.items() if k not in self._stopped})
        self.metrics.assigned.set(len(self._owned))
        self._resume(self._paused)  # the budget check pauses the new set on the next turn if it must
        self._paused = []
        self.metrics.paused.set(len(self._stopped))
        self._rebudget(len(self._owned))

    def _stored_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPart, int]:
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        stored: dict[TopicPart, int] = {}
        for topic, parts in by_topic.items():
            offsets = self._with_db_retry(partial(self._sink.stored_offsets, topic, parts))
            stored.update({(topic, p): o for p, o in offsets.items()})
        return stored

    def _resume(self, partitions: list[TopicPartition]) -> None:
        free = self._stopped.free(partitions)  # a misfit stays stopped until an operator's fix
        if free:
            self._consumer.resume(free)

    def _recheck_stopped(self) -> None:
        def stored(key: TopicPart) -> int:
            offsets = self._with_db_retry(partial(self._sink.stored_offsets, key[0], [key[1]]))
            return offsets.get(key[1], 0)

        for key, offset in self._stopped.recheck(stored):
            self._next[key] = offset

    # ---- write budget -----------------------------------------------------------------------------

    def _rebudget(self, mine: int) -> None:
        """This member's share of the fleet budget: proportional to the partitions it owns."""
        s = self.settings
        if s.write_budget_rows_per_s <= 0:
            return
        total = self._partition_total()
        if total is None:  # the broker is away: keep the current share and try again after the next poll
            self._rebalanced = True
            return
        share = self._budget.assign(mine, total, time.monotonic())
        log.info("write budget: %.0f of %.0f rows/s (%d of %d partitions)",
                 share, s.write_budget_rows_per_s, mine, total)  # fmt: skip

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

    def _commit_to_kafka(self, offsets: dict[TopicPart, int]) -> None:
        """Tell Kafka where PostgreSQL stands, for Kafka's tools, KEDA and the autoscaler. Also on taking
        over a partition: its last owner may have lost the partition between its database commit and
        this advisory one, and with nothing new to apply the lag would read stale for ever. PostgreSQL
        holds the truth, so a failed commit is no loss."""
        if not offsets:
            return
        try:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=True
            )
        except KafkaException as exc:
            log.warning("offsets not committed to Kafka (%s); the next commit covers them", exc.args[0])

    def _hold(self, hold: bool) -> None:
        """Backpressure: pause the partitions while the bucket is in debt, resume when it is not."""
        if hold and not self._paused:
            self._paused = list(self._consumer.assignment())
            self._consumer.pause(self._paused)
        elif not hold and self._paused:
            self._resume(self._paused)
            self._paused = []
        # Set here, not only after a batch: while paused no batch arrives to report it.
        self.metrics.paused.set(len(self._paused) or len(self._stopped))

    # ---- one batch --------------------------------------------------------------------------------

    def process(self, messages: Sequence[Message]) -> ApplyResult | None:
        """Decode, validate and apply one batch of messages exactly once."""
        batch = sort_batch(messages, self._next, self._registry, self._stopped.stop)
        if not batch.spans:
            return None
        spans = [Span(t, p, first, end) for (t, p), (first, end) in batch.spans.items()]
        try:
            self._dlq.send(batch.letters)  # before the DB commit: a dead letter is never dropped
            result = self._apply(spans, batch)
        except DeadLetterFailed as exc:  # nothing committed: read the batch again, later for exc's partitions
            self._dlq_stall.failed(exc, [(s.topic, s.partition, s.first) for s in spans])
            return None
        except Fenced as exc:
            self.totals.fenced += 1
            self.metrics.fenced.inc()
            log.warning("batch fenced, re-reading stored offsets: %s", exc)
            self._resync([(s.topic, s.partition) for s in spans])
            return None
        for span in spans:
            self._next[(span.topic, span.partition)] = span.end
        self._dlq_stall.written(batch.spans)
        self._budget.spend(result.rows, result.seconds, time.monotonic())
        self._commit_to_kafka({(s.topic, s.partition): s.end for s in spans})
        t = self.totals
        t.batches += 1
        t.applied, t.rejected = t.applied + result.applied, t.rejected + result.rejected
        t.duplicates += result.duplicates
        t.dead_letters += len(batch.letters) + len(batch.refused)
        self._observe(messages, batch, result)
        return result

    def _observe(self, messages: Sequence[Message], batch: Batch, result: ApplyResult) -> None:
        m = self.metrics
        for topic in {msg.topic() or "" for msg in messages}:
            m.consumed.labels(topic).inc(sum(1 for msg in messages if msg.topic() == topic))
        m.applied.inc(result.applied)
        for code, n in result.rejections.items():
            m.rejected.labels(code).inc(n)
        m.duplicates.inc(result.duplicates)
        for letter in batch.letters + batch.refused:
            m.dead_letters.labels(letter.error_class).inc()
        m.batch_events.observe(len(batch.events))
        m.commit_seconds.observe(result.seconds)
        for (topic, partition), position in self._next.items():
            # The high watermark from the latest fetch response: no extra round trip per batch.
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high is not None and high >= 0:
                m.lag.labels(topic, str(partition)).set(max(0, high - position))
        m.paused.set(len(self._paused))
        m.rate_limit.set(self._budget.bucket.rate)
        m.throttle.set(self._budget.throttle.factor)

    def _apply(self, spans: list[Span], batch: Batch) -> ApplyResult:
        attempted = False

        def dead_letter(refused: list[Poisoned]) -> None:
            """Inside the transaction, before COMMIT: the refused events reach the DLQ or nothing commits."""
            letters = []
            for p in refused:
                i = p.incoming
                msg = batch.raw[(i.topic, i.partition, i.offset)]
                log.warning("%s[%d]@%d refused by the database: %s", i.topic, i.partition, i.offset,
                            p.message)  # fmt: skip
                letters.append(DeadLetter.of(msg, p.error_class, p.message, str(i.event.event_id)))
            self._dlq.send(letters)
            batch.refused = letters

        def attempt() -> ApplyResult | None:
            nonlocal attempted
            # After a failed attempt the COMMIT may have landed (failover in between): ask, never re-apply.
            if attempted and self._sink.landed(spans):
                return None
            attempted = True
            batch.refused = []
            return self._sink.apply(spans, batch.events, dead_letter)

        result = self._with_db_retry(attempt)
        return result if result is not None else ApplyResult(0, 0, 0, 0.0)

    def _with_db_retry(self, work: Callable[[], T]) -> T:
        """Run ``work``, retrying transient database errors for up to ``db_retry_max_s`` (a Patroni failover
        takes ~10 s) or until :meth:`stop` (then :class:`Abandoned`). Meanwhile the partitions are paused,
        so the client stops fetching; librdkafka heartbeats on its own thread. An outage longer than
        max.poll.interval.ms makes the client leave the group: the partitions move on, and this batch is then
        either applied (nobody moved the stored offsets yet) or fenced. Either way nothing is lost or doubled,
        and the next poll rejoins."""
        paused: list[TopicPartition] = []

        def before_retry(error: BaseException | None) -> None:
            self._db_failing = True
            self._sink.close()  # the connection is broken or points at a demoted node: start afresh
            self._budget.failed()
            if not paused:
                paused.extend(self._consumer.assignment())
                self._consumer.pause(paused)
                self.metrics.paused.set(len(paused))
            log.warning("database unavailable (%s); retrying", error_line(error, self._sink.conninfo))

        try:
            result = retry_transient(
                work, max_s=self.settings.db_retry_max_s, stopping=self._stopping, before_retry=before_retry
            )
            self._db_failing = False
            return result
        finally:
            if paused:
                self._resume(paused)
                self._paused = []  # resumed here: the budget check pauses again if it must

    def _resync(self, keys: list[TopicPart]) -> None:
        """After being fenced: position the partitions at the offsets stored in the database."""
        for topic in {t for t, _ in keys}:
            parts = [p for t, p in keys if t == topic]
            stored = self._sink.stored_offsets(topic, parts)
            for p in parts:
                if p in stored:
                    self._next[(topic, p)] = stored[p]
                    self._consumer.seek(TopicPartition(topic, p, stored[p]))

    def _report(self) -> None:
        t = self.totals
        log.info(
            "applied %d, rejected %d, duplicates dropped %d, dead letters %d in %d batches (%.0f s)",
            t.applied,
            t.rejected,
            t.duplicates,
            t.dead_letters,
            t.batches,
            time.monotonic() - t.started,
        )

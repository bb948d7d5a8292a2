"""The partition tracker: which partitions this member owns and where each stands.

It owns the positions (the next offset to apply per partition, as stored with the rows in PostgreSQL),
the rebalance callbacks, the stopped partitions (a stored offset outside the log, consumers/outofrange.py;
an unwritable dead-letter topic, consumers/dlqstall.py), the pauses of the write budget and of a
database outage, the lag gauges, and the advisory offset commits to Kafka.

Both group protocols are incremental (KIP-848, or classic with cooperative-sticky): each callback lists
only the partitions that change hands, and this member keeps consuming the others meanwhile. The
callbacks only position and forget partitions. Whatever asks the broker (log bounds for the misfit
check, Kafka commits) waits for :meth:`PartitionTracker.settle`, after consume() returns: a blocking
client call made inside a callback leaves confluent-kafka without its call state, and the next callback
of the same consume() aborts the process (CallState_get assertion, seen on KIP-848).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Protocol, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from floodwall.consumers.dlq import DeadLetterFailed
from floodwall.consumers.dlqstall import DeadLetterStall
from floodwall.consumers.metrics import ConsumerMetrics
from floodwall.consumers.outofrange import StoppedPartitions
from floodwall.consumers.sink import Span

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]
T = TypeVar("T")


class StoredOffsets(Protocol):
    """Where PostgreSQL says each partition stands (PostgresSink)."""

    def stored_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]: ...


class Retry(Protocol):
    def __call__(self, work: Callable[[], T]) -> T: ...


class PartitionTracker:
    """Assignment, revocation, positions, resync, stops and holds of one member's partitions.

    ``stored`` is read through ``retry`` (a database outage is waited out), except after a fence, where a
    failure ends the batch as before."""

    def __init__(
        self, consumer: Consumer, metrics: ConsumerMetrics, stored: StoredOffsets, retry: Retry
    ) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._stored = stored
        self._retry = retry
        self.positions: dict[TopicPart, int] = {}  # where the stored (committed-with-rows) offsets stand
        self.joined = False  # assigned at least once: a member of the group
        self.rebalanced = False  # a callback ran since the last settle()
        self.stopped = StoppedPartitions(consumer, metrics.offset_out_of_range)
        self._dlq_stall = DeadLetterStall(
            consumer, self.stopped, metrics.dead_letter_stalled, metrics.dead_letter_failures
        )
        self._owned: set[TopicPart] = set()  # what the callbacks assigned: no client call needed to count
        self._to_check: dict[TopicPart, int] = {}  # stored offsets to hold against the log, once settled
        self._held: list[TopicPartition] = []  # paused for the write budget
        self._confirmed: dict[TopicPart, int] = {}  # offsets Kafka acknowledged committing

    # ---- rebalance callbacks (no blocking client calls: see the module docstring) --------------------

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Position each new partition at the offset stored with the rows (the beginning if none)."""
        stored = self._read_stored(partitions)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            tp.offset = stored.get(key, OFFSET_BEGINNING)
            if key in stored:
                self.positions[key] = stored[key]
        consumer.incremental_assign(partitions)
        # librdkafka keeps an application pause across a revoke and a new assignment of the same
        # partition. One paused for the budget and lost (a session timeout) would come back paused, and
        # nothing would resume it: the revoke dropped it from the holds. It is a new assignment, so
        # it starts fetching; the budget holds it again on its next turn if it must.
        consumer.resume(partitions)
        self._owned.update((tp.topic, tp.partition) for tp in partitions)
        self._to_check.update(stored)
        self.joined = True
        self.rebalanced = True
        if partitions:
            log.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions))

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget the partitions' positions: their next owner reads them from PostgreSQL again."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for key in gone:
            self.positions.pop(key, None)
            self.stopped.release(key)
            self._to_check.pop(key, None)
            self._confirmed.pop(key, None)
            with contextlib.suppress(KeyError):  # another member reports this partition's lag now
                self._metrics.lag.remove(key[0], str(key[1]))
        self._held = [tp for tp in self._held if (tp.topic, tp.partition) not in gone]
        self._owned -= gone
        consumer.incremental_unassign(partitions)
        self.rebalanced = True
        if partitions:
            log.info("revoked %d partitions", len(partitions))

    def settle(self) -> int:
        """After a rebalance, outside its callbacks: check new positions against the log, tell Kafka
        where they stand, resume what the budget held (it holds the new set on its next turn if it
        must). Returns how many partitions this member owns."""
        self.rebalanced = False
        checks, self._to_check = self._to_check, {}
        for key, offset in checks.items():
            self.stopped.check(key, offset)
        self.publish({k: o for k, o in checks.items() if k not in self.stopped})
        self._metrics.assigned.set(len(self._owned))
        self._resume(self._held)
        self._held = []
        self._metrics.paused.set(len(self.stopped))
        return len(self._owned)

    # ---- the committer's side (consumers/committer.py: Partitions) ------------------------------------

    def advance(self, spans: Sequence[Span]) -> None:
        for span in spans:
            self.positions[(span.topic, span.partition)] = span.end
        self._dlq_stall.written((s.topic, s.partition) for s in spans)

    def resync(self, keys: Sequence[TopicPart]) -> None:
        """After being fenced: position the partitions at the offsets stored in the database."""
        for topic in {t for t, _ in keys}:
            parts = [p for t, p in keys if t == topic]
            stored = self._stored.stored_offsets(topic, parts)
            for p in parts:
                if p in stored:
                    self.positions[(topic, p)] = stored[p]
                    self._consumer.seek(TopicPartition(topic, p, stored[p]))

    def stall(self, exc: DeadLetterFailed, spans: Sequence[Span]) -> None:
        self._dlq_stall.failed(exc, [(s.topic, s.partition, s.first) for s in spans])

    def publish(self, offsets: Mapping[TopicPart, int]) -> None:
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

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """Kafka's answer to an advisory commit (served inside consume()): remember what it confirmed.
        A refusal (a rebalance's new generation or member epoch, a coordinator that moved) is only
        logged here; :meth:`republish` sends those positions again."""
        refused = [tp for tp in partitions if error is not None or tp.error is not None]
        for tp in partitions:
            if error is None and tp.error is None:
                self._confirmed[(tp.topic, tp.partition)] = tp.offset
        if refused:
            why = error if error is not None else refused[0].error
            log.info("Kafka refused the advisory commit of %d partition(s) (%s); it is sent again",
                     len(refused), why)  # fmt: skip

    def republish(self) -> None:
        """Send again the positions Kafka has not confirmed. Without it a refused commit of a partition's
        last batch would leave Kafka's lag (and the autoscaler's, KEDA's, kcat's) stale until new events
        arrive there, which after a sale may be never."""
        self.publish(
            {k: o for k, o in self.positions.items() if self._confirmed.get(k) != o and k not in self.stopped}
        )

    # ---- stops ---------------------------------------------------------------------------------------

    def stop_misfits(self, misfits: Sequence[tuple[TopicPart, str]]) -> None:
        """Stop the partitions whose fetch left the log (the decoder's :attr:`Batch.misfits`)."""
        for key, reason in misfits:
            self.stopped.stop(key, reason)

    def recheck_stopped(self) -> None:
        """Resume the stopped partitions that fit again, at their stored offsets."""

        def stored(key: TopicPart) -> int:
            offsets = self._retry(partial(self._stored.stored_offsets, key[0], [key[1]]))
            return offsets.get(key[1], 0)

        for key, offset in self.stopped.recheck(stored):
            self.positions[key] = offset

    # ---- holds ---------------------------------------------------------------------------------------

    def hold(self, hold: bool) -> None:
        """Backpressure: pause the partitions while the budget is in debt, resume when it is not."""
        if hold and not self._held:
            self._held = list(self._consumer.assignment())
            self._consumer.pause(self._held)
        elif not hold and self._held:
            self._resume(self._held)
            self._held = []
        # Set here, not only after a batch: while paused no batch arrives to report it.
        self._metrics.paused.set(len(self._held) or len(self.stopped))

    def pause_for_outage(self) -> list[TopicPartition]:
        """Pause every assigned partition while the database is away; returns them."""
        paused = list(self._consumer.assignment())
        self._consumer.pause(paused)
        self._metrics.paused.set(len(paused))
        return paused

    def end_outage(self, paused: list[TopicPartition]) -> None:
        self._resume(paused)
        self._held = []  # resumed here: the budget check holds again if it must

    def _resume(self, partitions: list[TopicPartition]) -> None:
        free = self.stopped.free(partitions)  # a stopped partition stays so until its own re-check
        if free:
            self._consumer.resume(free)

    # ---- reading ---------------------------------------------------------------------------------------

    def observe_lag(self) -> None:
        """Lag per position from the high watermark of the latest fetch response: no extra round trip."""
        for (topic, partition), position in self.positions.items():
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high is not None and high >= 0:
                self._metrics.lag.labels(topic, str(partition)).set(max(0, high - position))
        self._metrics.paused.set(len(self._held))

    def _read_stored(self, partitions: list[TopicPartition]) -> dict[TopicPart, int]:
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        stored: dict[TopicPart, int] = {}
        for topic, parts in by_topic.items():
            offsets = self._retry(partial(self._stored.stored_offsets, topic, parts))
            stored.update({(topic, p): o for p, o in offsets.items()})
        return stored

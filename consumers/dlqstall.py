"""Partitions held because the dead-letter topic would not take their dead letters.

The consumer does not exit on an unwritable DLQ (topic missing, broker refusing, timeout): the batch is
not committed, its partitions are rewound to where it began, and the partitions whose letters were not
written are stopped (through :class:`~consumers.outofrange.StoppedPartitions`, so backpressure never
resumes them) with one error line each and ``floodwall_consumer_dead_letter_stalled`` set. After a
back-off (10 s, doubling up to 2 min) the periodic re-check resumes them from the stored offset, and
the batch is read and its letters sent again. Nothing is committed past an unwritten dead letter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge

from floodwall.consumers.dlq import DeadLetterFailed
from floodwall.consumers.outofrange import StopCause, StoppedPartitions

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]

FIRST_BACKOFF_S = 10.0
MAX_BACKOFF_S = 120.0


def backoff_s(failures: int) -> float:
    """The wait after the ``failures``-th failure in a row (1, 2, …): 10 s doubling, at most 2 min."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * float(2 ** max(0, failures - 1)))


class DeadLetterStall:
    """Stops partitions on :class:`DeadLetterFailed` with a growing back-off; forgets them once written."""

    def __init__(
        self, consumer: Consumer, stopped: StoppedPartitions, gauge: Gauge, failures: Counter
    ) -> None:
        self._consumer = consumer
        self._stopped = stopped
        self._cause = StopCause(
            gauge, "nothing committed past it; its batch is read and its dead letters sent again later"
        )
        self._failures = failures
        self._in_a_row: dict[TopicPart, int] = {}

    def failed(self, exc: DeadLetterFailed, batch_start: Iterable[tuple[str, int, int]]) -> None:
        """The batch beginning at ``batch_start`` (topic, partition, first offset) was not committed:
        rewind each of its partitions there, and stop those ``exc`` names until their back-off passed."""
        self._failures.inc()
        for topic, partition, first in batch_start:
            try:
                self._consumer.seek(TopicPartition(topic, partition, first))
            except KafkaException as err:  # a stopped partition is re-assigned at its stored offset anyway
                log.warning("%s[%d]: cannot seek back to %d (%s)", topic, partition, first, err.args[0])
        now = time.monotonic()
        for key in sorted(exc.partitions):
            n = self._in_a_row[key] = self._in_a_row.get(key, 0) + 1
            wait = backoff_s(n)
            reason = f"{exc} (failure {n} in a row; retrying in {wait:.0f} s)"
            self._stopped.stop(key, reason, self._cause, not_before=now + wait)

    def written(self, keys: Iterable[TopicPart]) -> None:
        """A batch of ``keys`` went through: their back-off starts afresh."""
        for key in keys:
            if self._in_a_row.pop(key, None):
                log.info("%s[%d]: dead letters written again", key[0], key[1])

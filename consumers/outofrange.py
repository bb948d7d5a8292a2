"""Stored offsets that do not fit the log: detect them, stop the partition, say so, resume once fixed.

The sink's progress lives in PostgreSQL, so a stored offset can disagree with the broker's log: the
topic was recreated, the broker lost its data, or retention deleted events nobody consumed. Seeking
there would make the fetch either wait forever past the log end or reset somewhere else: events would be
skipped without a word. Instead such a partition is held paused, logged once with both offsets, and
exported as ``floodwall_consumer_offset_out_of_range``; an operator fixes it deliberately with
``floodwall offsets reset`` and the consumer picks the partition up again on its next re-check.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Gauge

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]


@dataclass(frozen=True)
class LogBounds:
    """A partition's log: the first offset still held (low watermark) and the next to be written."""

    start: int
    end: int


def misfit(stored: int, bounds: LogBounds) -> str | None:
    """Why ``stored`` cannot be consumed from, or None when it lies within ``[start, end]``.

    ``stored == end`` is fine (nothing new yet); ``stored < start`` means events were deleted before
    the sink applied them; ``stored > end`` means the log is not the one the offset was stored for.
    """
    if stored > bounds.end:
        return f"stored offset {stored} is beyond the log end {bounds.end}"
    if stored < bounds.start:
        return f"stored offset {stored} is before the log start {bounds.start}"
    return None


class StoppedPartitions:
    """The partitions this member holds stopped because of a misfit: paused in the client, one log line
    each, mirrored into the gauge. The only place that pauses or frees a partition for this reason."""

    def __init__(self, consumer: Consumer, gauge: Gauge) -> None:
        self._consumer = consumer
        self._gauge = gauge
        self._reasons: dict[TopicPart, str] = {}

    def check(self, key: TopicPart, stored: int) -> bool:
        """Stop the partition when ``stored`` lies outside its log (read from the broker); True if it fits.

        When the bounds cannot be read the offset is taken as fitting: the fetch itself still reports
        a misfit (``auto.offset.reset=error``), which comes back here through :meth:`stop`.
        """
        try:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(*key), timeout=5, cached=False)
        except KafkaException as exc:
            log.warning("%s[%d]: cannot read the log bounds (%s); not checked", *key, exc.args[0])
            return True
        reason = misfit(stored, LogBounds(low, high))
        if reason is not None:
            self.stop(key, reason)
        return reason is None

    def stop(self, key: TopicPart, reason: str) -> None:
        """Pause ``key`` and record why; logs one line the first time (not on every re-check)."""
        if key not in self._reasons:
            log.error(
                "%s[%d]: %s; partition stopped, nothing skipped (see `floodwall offsets show`, then "
                "`floodwall offsets reset`)", key[0], key[1], reason,
            )  # fmt: skip
        self._reasons[key] = reason
        self._consumer.pause([TopicPartition(*key)])
        self._gauge.labels(key[0], str(key[1])).set(1)

    def release(self, key: TopicPart) -> bool:
        """Forget ``key`` (revoked, or fitting again) without touching the client; True if it was stopped."""
        if self._reasons.pop(key, None) is None:
            return False
        with contextlib.suppress(KeyError):
            self._gauge.remove(key[0], str(key[1]))
        return True

    def recheck(self, stored_offset: Callable[[TopicPart], int]) -> list[tuple[TopicPart, int]]:
        """Reposition and resume every stopped partition whose stored offset fits now (after an operator's
        ``floodwall offsets reset``); returns those partitions with the offset they resume at."""
        resumed = []
        for key in sorted(self._reasons):
            stored = stored_offset(key)
            if not self.check(key, stored):
                continue
            self.release(key)
            # Assigned afresh rather than seeked: after the fetch hit the misfit (auto.offset.reset=error)
            # librdkafka has stopped fetching the partition and refuses a seek (_STATE).
            self._consumer.incremental_unassign([TopicPartition(*key)])
            self._consumer.incremental_assign([TopicPartition(key[0], key[1], stored)])
            self._consumer.resume([TopicPartition(*key)])  # the pause outlives the assignment
            log.info("%s[%d]: stored offset %d fits the log again; consuming", key[0], key[1], stored)
            resumed.append((key, stored))
        return resumed

    def free(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """``partitions`` less the stopped ones: backpressure must never resume those."""
        return [tp for tp in partitions if (tp.topic, tp.partition) not in self._reasons]

    def __contains__(self, key: object) -> bool:
        return key in self._reasons

    def __len__(self) -> int:
        return len(self._reasons)

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
import time
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


@dataclass(frozen=True)
class StopCause:
    """Why a kind of stop happens: the gauge that shows it (labels topic, partition) and what to do."""

    gauge: Gauge
    advice: str


MISFIT_ADVICE = "nothing skipped (see `floodwall offsets show`, then `floodwall offsets reset`)"


class StoppedPartitions:
    """The partitions this member holds stopped: paused in the client, one log line each, mirrored into
    a gauge. The only place that pauses or frees a partition for such a reason. A stored offset that does
    not fit the log is the default cause; another (an unwritable dead-letter topic) brings its own gauge
    and a time before which it is not re-checked (a back-off)."""

    def __init__(self, consumer: Consumer, gauge: Gauge) -> None:
        self._consumer = consumer
        self._misfit = StopCause(gauge, MISFIT_ADVICE)
        self._reasons: dict[TopicPart, str] = {}
        self._causes: dict[TopicPart, StopCause] = {}
        self._not_before: dict[TopicPart, float] = {}

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

    def stop(
        self, key: TopicPart, reason: str, cause: StopCause | None = None, not_before: float = 0.0
    ) -> None:
        """Pause ``key`` and record why; logs one line the first time (not on every re-check). ``cause``
        defaults to a misfit; :meth:`recheck` leaves the partition alone until ``not_before``
        (time.monotonic())."""
        cause = cause or self._misfit
        if key not in self._reasons:
            log.error("%s[%d]: %s; partition stopped, %s", key[0], key[1], reason, cause.advice)
        self._reasons[key] = reason
        self._causes[key] = cause
        self._not_before[key] = not_before
        self._consumer.pause([TopicPartition(*key)])
        cause.gauge.labels(key[0], str(key[1])).set(1)

    def release(self, key: TopicPart) -> bool:
        """Forget ``key`` (revoked, or fitting again) without touching the client; True if it was stopped."""
        if self._reasons.pop(key, None) is None:
            return False
        self._not_before.pop(key, None)
        cause = self._causes.pop(key)
        with contextlib.suppress(KeyError):
            cause.gauge.remove(key[0], str(key[1]))
        return True

    def recheck(self, stored_offset: Callable[[TopicPart], int]) -> list[tuple[TopicPart, int]]:
        """Reposition and resume every stopped partition whose stored offset fits now (after an operator's
        ``floodwall offsets reset``, or once a back-off has passed); returns those partitions with the
        offset they resume at."""
        resumed = []
        now = time.monotonic()
        for key in sorted(self._reasons):
            if self._not_before[key] > now:
                continue  # still backing off
            stored = stored_offset(key)
            if not self.check(key, stored):
                continue
            why = "fits the log again" if self._causes[key] is self._misfit else "is tried again"
            self.release(key)
            # Assigned afresh rather than seeked: after the fetch hit the misfit (auto.offset.reset=error)
            # librdkafka has stopped fetching the partition and refuses a seek (_STATE).
            self._consumer.incremental_unassign([TopicPartition(*key)])
            self._consumer.incremental_assign([TopicPartition(key[0], key[1], stored)])
            self._consumer.resume([TopicPartition(*key)])  # the pause outlives the assignment
            log.info("%s[%d]: stored offset %d %s; consuming", key[0], key[1], stored, why)
            resumed.append((key, stored))
        return resumed

    def free(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """``partitions`` less the stopped ones: backpressure must never resume those."""
        return [tp for tp in partitions if (tp.topic, tp.partition) not in self._reasons]

    def __contains__(self, key: object) -> bool:
        return key in self._reasons

    def __len__(self) -> int:
        return len(self._reasons)
